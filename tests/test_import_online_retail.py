"""Online Retail importer on seven invoices of the real file.

The slice: 536365 and 536366 (customer 17850), 536381 and its cancellation C536383 (customer 15311),
558639 (customer 13492, Switzerland, in British Summer Time), 536414 (no CustomerID) and C536379
(customer 14527, a cancellation without an earlier invoice). Totals were summed by hand from the lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.contract import ENTITIES
from cs_warehouse.errors import CswError
from cs_warehouse.importers import import_data_set

PUBLIC_DATA_ENV = "CSW_PUBLIC_DATA"
SLICE_INVOICES = {"536365", "536366", "536381", "C536383", "558639", "536414", "C536379"}


def public_data_dir() -> Path:
    """The public data sets: $CSW_PUBLIC_DATA, else ../shared/data next to the repository."""
    override = os.environ.get(PUBLIC_DATA_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_slice(folder: Path, invoices: set[str]) -> Path:
    path = public_data_dir() / "online_retail" / "online_retail.csv.gz"
    if not path.is_file():
        pytest.skip(f"Online Retail not found at {path}; set {PUBLIC_DATA_ENV} to the public data folder")
    folder.mkdir(parents=True)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        rows = [row for row in reader if row[0] in invoices]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    (folder / "online_retail.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = write_slice(tmp_path_factory.mktemp("retail") / "source", SLICE_INVOICES)
    out = tmp_path_factory.mktemp("retail") / "landing"
    import_data_set("online-retail", source=source, out_dir=out)
    return out


def test_accounts_with_iso_countries(landing: Path) -> None:
    with (landing / "crm" / "accounts.csv").open(encoding="utf-8") as handle:
        rows = {row["account_id"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["13492", "14527", "15311", "17850"]
    assert rows["13492"]["country"] == "CH"
    assert rows["17850"]["country"] == "GB"
    assert rows["17850"]["created_at"] == "2010-12-01T08:26:00Z"


def test_invoice_totals_in_pence(landing: Path) -> None:
    invoices = {i["id"]: i for i in read_jsonl(landing / "billing" / "invoices.jsonl")}
    totals = {invoice_id: invoice["total"] for invoice_id, invoice in invoices.items()}
    assert totals == {"in_retail_536365": 13912, "in_retail_536366": 2220, "in_retail_536381": 44998,
                      "in_retail_558639": 36080}
    for invoice in invoices.values():
        assert sum(line["amount"] for line in invoice["lines"]["data"]) == invoice["total"]
        assert invoice["status"] == "paid"
        assert invoice["currency"] == "gbp"
    assert len(invoices["in_retail_536381"]["lines"]["data"]) == 35


def test_invoice_time_converted_to_utc(landing: Path) -> None:
    invoices = {i["id"]: i for i in read_jsonl(landing / "billing" / "invoices.jsonl")}
    # 08:26 in December is GMT (UTC+0); 08:55 on 1 July is BST (UTC+1).
    assert invoices["in_retail_536365"]["created"] == epoch("2010-12-01T08:26:00")
    assert invoices["in_retail_558639"]["created"] == epoch("2011-07-01T07:55:00")


def test_cancellation_becomes_credit_note(landing: Path) -> None:
    notes = read_jsonl(landing / "billing" / "credit_notes.jsonl")
    assert len(notes) == 1  # C536379 has no earlier invoice of customer 14527
    (note,) = notes
    assert note["id"] == "cn_retail_C536383"
    assert note["invoice"] == "in_retail_536381"
    assert note["customer"] == "cus_retail_15311"
    assert note["amount"] == 465


def test_no_subscriptions_written(landing: Path) -> None:
    assert not (landing / "billing" / "subscriptions.jsonl").exists()
    assert not (landing / "events").exists()


def test_imported_files_load_balanced(landing: Path, tmp_path: Path) -> None:
    ingest = pytest.importorskip("cs_warehouse.ingest")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for entity in ENTITIES:
        report = ingest.load_entity(con, entity, landing, log=lambda message: None)
        for file_report in report.files:
            assert file_report.is_balanced, file_report
            assert file_report.rows_rejected == 0, file_report
    assert con.execute("select count(*) from raw.billing_invoice_lines").fetchone()[0] == 7 + 2 + 35 + 13
    revenue = con.execute("select sum(total) from raw.billing_invoices").fetchone()[0]
    assert revenue == 13912 + 2220 + 44998 + 36080


def test_missing_column_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    folder.mkdir()
    (folder / "online_retail.csv").write_text("InvoiceNo,StockCode,Quantity\n536365,85123A,6\n", encoding="utf-8")
    with pytest.raises(CswError, match="missing required column.*Description"):
        import_data_set("online-retail", source=folder, out_dir=tmp_path / "landing")


def test_missing_file_names_download(tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    with pytest.raises(CswError, match="online_retail.csv.*archive.ics.uci.edu"):
        import_data_set("online-retail", source=tmp_path / "source", out_dir=tmp_path / "landing")
