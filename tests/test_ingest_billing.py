"""Loading Stripe-shaped JSON Lines: epoch times, nested fields, child tables, rejects and unknown fields."""

import gzip
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.contract import BILLING_INVOICES
from cs_warehouse.errors import LandingError
from cs_warehouse.ingest import load_entity

LOADED_AT = datetime(2025, 1, 1, 12, 0, 0)
JAN_1_2024 = 1704067200  # 2024-01-01T00:00:00Z in Unix seconds
FEB_1_2024 = 1706745600


def invoice(invoice_id: str, **overrides) -> dict:
    record = {
        "id": invoice_id,
        "object": "invoice",
        "customer": "cus_1",
        "subscription": "sub_1",
        "status": "paid",
        "currency": "usd",
        "total": 5000,
        "created": JAN_1_2024,
        "status_transitions": {"paid_at": JAN_1_2024 + 3600, "finalized_at": JAN_1_2024},
        "lines": {
            "object": "list",
            "data": [
                {"id": "il_1", "price": {"id": "price_1"}, "quantity": 5, "amount": 5000,
                 "period": {"start": JAN_1_2024, "end": FEB_1_2024}, "proration": False},
            ],
        },
    }
    record.update(overrides)
    return record


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def invoice_lines() -> list[str]:
    bad_line_item = invoice("in_4")
    bad_line_item["lines"]["data"].append({"id": "il_2", "amount": "ten", "coupon": "x"})
    bad_line_item["lines"]["data"].append({"id": "il_1", "amount": 1})  # same line id again
    return [
        json.dumps(invoice("in_1")),
        '{"id": "in_2", "customer": "cus_1", ',  # cut off: invalid JSON
        json.dumps(invoice("in_3", status="refunded")),
        json.dumps(invoice("in_1", total=1)),  # duplicate invoice id: the first copy wins
        "",  # blank lines are not records
        json.dumps(bad_line_item),
        json.dumps(invoice("in_5", created="2024-01-01")),
    ]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_invoices_counts_and_rejects(con, tmp_path):
    write_lines(tmp_path / "billing" / "invoices.jsonl.gz", invoice_lines())

    report = load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=LOADED_AT)

    (file_report,) = report.files
    assert file_report.path == "billing/invoices.jsonl.gz"
    assert (file_report.rows_read, file_report.rows_loaded) == (6, 2)
    assert (file_report.rows_rejected, file_report.duplicates_dropped) == (3, 1)
    rejects = con.execute("select _source_line, reason from raw_rejects.billing_invoices order by 1").fetchall()
    assert rejects == [
        (2, "malformed line: invalid JSON"),
        (3, "status: value 'refunded' is not one of draft, open, paid, void, uncollectible"),
        (7, "created_at (created): invalid Unix timestamp (expected seconds since 1970-01-01) '2024-01-01'"),
    ]
    (raw_record,) = con.execute("select raw_record from raw_rejects.billing_invoices where _source_line = 2").fetchone()
    assert raw_record == '{"id": "in_2", "customer": "cus_1", '


def test_invoices_typed_from_nested_and_epoch_fields(con, tmp_path):
    write_lines(tmp_path / "billing" / "invoices.jsonl.gz", invoice_lines())

    load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=LOADED_AT)

    rows = con.execute(
        "select invoice_id, total, created_at, paid_at, _source_line, _loaded_at from raw.billing_invoices order by 1"
    ).fetchall()
    assert rows == [
        ("in_1", 5000, datetime(2024, 1, 1), datetime(2024, 1, 1, 1), 1, LOADED_AT),
        ("in_4", 5000, datetime(2024, 1, 1), datetime(2024, 1, 1, 1), 6, LOADED_AT),
    ]


def test_invoice_lines_child_table(con, tmp_path):
    write_lines(tmp_path / "billing" / "invoices.jsonl.gz", invoice_lines())

    report = load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=LOADED_AT)

    lines = con.execute(
        "select invoice_id, line_id, quantity, amount, is_proration, period_start_at, _source_line "
        "from raw.billing_invoice_lines order by 1, 2"
    ).fetchall()
    assert lines == [
        ("in_1", "il_1", 5, 5000, False, datetime(2024, 1, 1), 1),
        ("in_4", "il_1", 5, 5000, False, datetime(2024, 1, 1), 6),
    ]
    (child,) = report.children
    assert (child.rows_loaded, child.rows_rejected, child.duplicates_dropped) == (2, 1, 1)
    assert con.execute("select _source_line, reason from raw_rejects.billing_invoice_lines").fetchall() == [
        (6, "element 2 of lines.data: amount: invalid integer 'ten'"),
    ]


def test_invoices_unknown_fields_kept_in_extra(con, tmp_path):
    write_lines(tmp_path / "billing" / "invoices.jsonl.gz", invoice_lines())

    report = load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=LOADED_AT)

    (extra,) = con.execute("select _extra from raw.billing_invoices where invoice_id = 'in_1'").fetchone()
    assert json.loads(extra) == {
        "lines.object": "list",
        "object": "invoice",
        "status_transitions.finalized_at": JAN_1_2024,
    }
    assert report.unknown_fields["object"] == 5
    assert report.unknown_fields["billing_invoice_lines: coupon"] == 1


def test_dotted_key_same_as_nested_field(con, tmp_path):
    """A key with dots that spells a nested unknown field: the same value loads once, another rejects."""
    same = invoice("in_1", **{"status_transitions.finalized_at": JAN_1_2024})
    different = invoice("in_2", **{"status_transitions.finalized_at": 5})
    write_lines(tmp_path / "billing" / "invoices.jsonl.gz", [json.dumps(same), json.dumps(different)])

    load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=LOADED_AT)

    (extra,) = con.execute("select _extra from raw.billing_invoices where invoice_id = 'in_1'").fetchone()
    assert json.loads(extra)["status_transitions.finalized_at"] == JAN_1_2024
    assert con.execute("select count(*) from raw.billing_invoices where invoice_id = 'in_2'").fetchone() == (0,)
    (line, reason) = con.execute("select _source_line, reason from raw_rejects.billing_invoices").fetchone()
    assert line == 2
    assert reason == (
        "unknown field status_transitions.finalized_at is given twice with different values, by a key with "
        "dots in its name and by nested objects; rename the key in the export"
    )


def test_field_absent_from_every_record_fails(con, tmp_path):
    write_lines(tmp_path / "billing" / "invoices.jsonl.gz", invoice_lines())
    load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=LOADED_AT)
    before = con.execute("select * from raw.billing_invoices order by all").fetchall()

    records = [invoice("in_8"), invoice("in_9")]
    for record in records:
        del record["currency"]
    write_lines(tmp_path / "billing" / "invoices_2.jsonl.gz", [json.dumps(r) for r in records])
    with pytest.raises(LandingError) as raised:
        load_entity(con, BILLING_INVOICES, tmp_path, loaded_at=datetime(2025, 2, 1))

    assert "billing/invoices_2.jsonl.gz" in str(raised.value)
    assert "'currency'" in str(raised.value)
    assert con.execute("select * from raw.billing_invoices order by all").fetchall() == before
