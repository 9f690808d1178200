"""Loading CSV exports (CRM tickets, feature catalog): typing, rejects, duplicates, missing and extra columns."""

import gzip
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.contract import CATALOG_FEATURES, CRM_ACCOUNTS, CRM_TICKETS
from cs_warehouse.errors import LandingError
from cs_warehouse.ingest import load_entity

LOADED_AT = datetime(2025, 1, 1, 12, 0, 0)

TICKETS_CSV = """\
ticket_id,account_id,created_at,first_response_at,resolved_at,priority,status,category,csat,channel
t1,a1,2024-03-01T09:00:00Z,2024-03-01T10:30:00+01:00,,high,solved,bug,5,email
t2,a1,2024-03-02 08:00:00,,,urgent,open,"billing, refunds",,chat
t3,a2,2024-03-03T00:00:00Z,,,critical,open,bug,,email
t4,a2,2024-03-04T00:00:00Z,,,low,open,bug,7,email
t1,a9,2024-04-01T00:00:00Z,,,low,open,bug,,email
t5,a3,2024-03-05T00:00:00Z,,,low,open
,a3,2024-03-06T00:00:00Z,,,low,open,bug,,email
t6,a3,yesterday,,,low,open,bug,,email

t7,a4,2024-03-07T00:00:00Z,,,normal,pending,"two
lines",3,phone
"""

CATALOG_CSV = """\
event_name,feature_name,is_feature,is_premium,is_activation,onboarding_task,owner_team
report_created,reports,true,no,1,create_report,analytics
login,,false,false,0,,platform
export_run,exports,maybe,true,0,,analytics
report_created,reports,true,true,0,,analytics
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_tickets_typed_rejected_and_deduplicated(con, tmp_path):
    write(tmp_path / "crm" / "tickets.csv", TICKETS_CSV)

    report = load_entity(con, CRM_TICKETS, tmp_path, loaded_at=LOADED_AT)

    (file_report,) = report.files
    assert file_report.path == "crm/tickets.csv"
    assert file_report.rows_read == 9
    assert file_report.rows_loaded == 3
    assert file_report.rows_rejected == 5
    assert file_report.duplicates_dropped == 1
    assert file_report.rows_read == file_report.rows_loaded + file_report.rows_rejected + file_report.duplicates_dropped

    rows = con.execute(
        "select ticket_id, account_id, created_at, first_response_at, category, csat, _source_line "
        "from raw.crm_tickets order by ticket_id"
    ).fetchall()
    assert rows == [
        # The first copy of t1 (line 2) wins over the later one (line 6); +01:00 is converted to UTC.
        ("t1", "a1", datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 9, 30), "bug", 5, 2),
        ("t2", "a1", datetime(2024, 3, 2, 8), None, "billing, refunds", None, 3),
        # A quoted field across two lines: the record starts on line 11.
        ("t7", "a4", datetime(2024, 3, 7), None, "two\nlines", 3, 11),
    ]


def test_tickets_rejects_name_line_column_and_value(con, tmp_path):
    write(tmp_path / "crm" / "tickets.csv", TICKETS_CSV)

    load_entity(con, CRM_TICKETS, tmp_path, loaded_at=LOADED_AT)

    rejects = con.execute(
        "select _source_file, _source_line, raw_record, reason from raw_rejects.crm_tickets order by _source_line"
    ).fetchall()
    assert [r[1] for r in rejects] == [4, 5, 7, 8, 9]
    assert all(r[0] == "crm/tickets.csv" for r in rejects)
    reasons = {line: reason for _, line, _, reason in rejects}
    assert reasons[4] == "priority: value 'critical' is not one of low, normal, high, urgent"
    assert reasons[5] == "csat: value '7' is above the maximum 5"
    assert reasons[7] == "expected 10 fields as in the header, found 7"
    assert reasons[8] == "ticket_id: missing required value"
    assert reasons[9] == "created_at: invalid timestamp (expected ISO-8601 text) 'yesterday'"
    assert rejects[2][2] == "t5,a3,2024-03-05T00:00:00Z,,,low,open"


def test_tickets_extra_column_kept_and_reported(con, tmp_path):
    write(tmp_path / "crm" / "tickets.csv", TICKETS_CSV)

    report = load_entity(con, CRM_TICKETS, tmp_path, loaded_at=LOADED_AT)

    extras = dict(con.execute("select ticket_id, _extra from raw.crm_tickets").fetchall())
    assert json.loads(extras["t1"]) == {"channel": "email"}
    assert json.loads(extras["t7"]) == {"channel": "phone"}
    # Every parsed record (loaded, rejected for a value, or duplicate) had the column.
    assert report.unknown_fields == {"channel": 8}


def test_missing_required_column_fails_and_keeps_tables(con, tmp_path):
    write(tmp_path / "crm" / "tickets.csv", TICKETS_CSV)
    load_entity(con, CRM_TICKETS, tmp_path, loaded_at=LOADED_AT)
    before = con.execute("select * from raw.crm_tickets order by all").fetchall()
    rejects_before = con.execute("select * from raw_rejects.crm_tickets order by all").fetchall()

    write(tmp_path / "crm" / "tickets_2.csv", "ticket_id,account_id,priority\nt9,a1,low\n")
    with pytest.raises(LandingError) as raised:
        load_entity(con, CRM_TICKETS, tmp_path, loaded_at=datetime(2025, 2, 1))

    message = str(raised.value)
    assert "crm/tickets_2.csv" in message
    assert "'created_at'" in message
    assert con.execute("select * from raw.crm_tickets order by all").fetchall() == before
    assert con.execute("select * from raw_rejects.crm_tickets order by all").fetchall() == rejects_before


def test_gzipped_csv_loads_like_plain(con, tmp_path):
    path = tmp_path / "crm" / "accounts.csv.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("account_id,name,created_at\na1,Acme,2024-01-01\n")

    report = load_entity(con, CRM_ACCOUNTS, tmp_path, loaded_at=LOADED_AT)

    assert report.files[0].path == "crm/accounts.csv.gz"
    assert con.execute("select account_id, name, created_at from raw.crm_accounts").fetchall() == [
        ("a1", "Acme", datetime(2024, 1, 1))
    ]


def test_catalog_booleans_rejects_and_extra(con, tmp_path):
    write(tmp_path / "catalog" / "features.csv", CATALOG_CSV)

    report = load_entity(con, CATALOG_FEATURES, tmp_path, loaded_at=LOADED_AT)

    (file_report,) = report.files
    assert (file_report.rows_read, file_report.rows_loaded, file_report.rows_rejected) == (4, 2, 1)
    assert file_report.duplicates_dropped == 1
    rows = con.execute(
        "select event_name, feature_name, is_feature, is_premium, is_activation, onboarding_task, _extra "
        "from raw.catalog_features order by event_name"
    ).fetchall()
    assert rows == [
        ("login", None, False, False, False, None, '{"owner_team":"platform"}'),
        ("report_created", "reports", True, False, True, "create_report", '{"owner_team":"analytics"}'),
    ]
    assert con.execute("select _source_line, reason from raw_rejects.catalog_features").fetchall() == [
        (4, "is_feature: invalid boolean (expected true/false, 1/0 or yes/no) 'maybe'")
    ]
    assert report.unknown_fields == {"owner_team": 4}


def test_catalog_missing_required_column_fails(con, tmp_path):
    write(tmp_path / "catalog" / "features.csv", "event_name,feature_name\nlogin,\n")

    with pytest.raises(LandingError, match=r"catalog/features\.csv: required column 'is_feature'"):
        load_entity(con, CATALOG_FEATURES, tmp_path, loaded_at=LOADED_AT)

    assert con.execute("select count(*) from raw.catalog_features").fetchone() == (0,)


def test_missing_export_keeps_loaded_rows(con, tmp_path):
    # A landing folder without the entity's files (a wrong path, an export that did not arrive) must
    # not wipe what an earlier run loaded.
    path = write(tmp_path / "crm" / "tickets.csv", TICKETS_CSV)
    first = load_entity(con, CRM_TICKETS, tmp_path, loaded_at=LOADED_AT)
    rows_before = con.execute("select * from raw.crm_tickets order by all").fetchall()

    path.unlink()
    infos, warnings = [], []
    report = load_entity(
        con, CRM_TICKETS, tmp_path, loaded_at=datetime(2025, 2, 1), log=infos.append, warn=warnings.append
    )

    assert report.status == "no files"
    assert infos == []
    assert len(warnings) == 1
    assert warnings[0].startswith("raw.crm_tickets: no files match crm/tickets")
    assert report.table_rows == first.table_rows
    assert con.execute("select * from raw.crm_tickets order by all").fetchall() == rows_before
    assert con.execute("select count(*) from raw_meta.file_loads where is_current").fetchone() == (1,)
