"""OULAD importer on a slice of the real data set: five enrolments of four students.

The slice has students 11391 (240 credits, passed), 28400 (60 credits, passed) and 30268 (60
credits, withdrew on day 12) of AAA 2013J. Student 371679 is in two modules: BBB 2013B (120 credits,
passed) and DDD 2013J (180 credits, withdrew on day -8). Only the two withdrawals end a subscription.
Expected values below were counted in the source tables by hand.
"""

from __future__ import annotations

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
SLICE = {
    ("AAA", "2013J"): (11391, 28400, 30268),
    ("BBB", "2013B"): (371679,),
    ("DDD", "2013J"): (371679,),
}
SMALL_TABLES = ("courses", "assessments", "vle")


def public_data_dir() -> Path:
    """The public data sets: $CSW_PUBLIC_DATA, else ../shared/data next to the repository."""
    override = os.environ.get(PUBLIC_DATA_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build_slice(target: Path, file_format: str) -> Path:
    """Copy the slice's rows from the real OULAD files into `target`, as Parquet or as CSV with '?' nulls."""
    source = public_data_dir() / "oulad"
    if not source.is_dir():
        pytest.skip(f"OULAD not found at {source}; set {PUBLIC_DATA_ENV} to the public data folder")
    target.mkdir(parents=True)
    con = duckdb.connect()
    enrolments = " or ".join(
        f"(code_module = '{module}' and code_presentation = '{presentation}' and id_student in {students + (0,)})"
        for (module, presentation), students in SLICE.items()
    )
    students = tuple(sorted({s for group in SLICE.values() for s in group}))

    queries = {table: f"select * from '{source / table}.parquet'" for table in SMALL_TABLES}
    for table in ("studentInfo", "studentRegistration"):
        queries[table] = f"select * from '{source / table}.parquet' where {enrolments}"
    queries["studentAssessment"] = (
        f"select * from '{source}/studentAssessment.parquet' where id_student in {students}"
    )
    vle = f"read_parquet('{source}/studentVle_ds/*/*/*.parquet', hive_partitioning = true)"
    queries["studentVle"] = (
        f"select id_student, id_site, date, sum_click, code_module, code_presentation from {vle} where {enrolments}"
    )

    for table, query in queries.items():
        if file_format == "csv":
            con.execute(f"copy ({query}) to '{target / table}.csv' (header, nullstr '?')")
        elif table == "studentVle":
            con.execute(f"copy ({query}) to '{target}/studentVle_ds' "
                        "(format parquet, partition_by (code_module, code_presentation))")
        else:
            con.execute(f"copy ({query}) to '{target / table}.parquet' (format parquet)")
    con.close()
    return target


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = build_slice(tmp_path_factory.mktemp("oulad") / "source", "parquet")
    out = tmp_path_factory.mktemp("oulad") / "landing"
    import_data_set("oulad", source=source, out_dir=out)
    return out


def test_accounts_one_per_enrolment(landing: Path) -> None:
    con = duckdb.connect()
    ids = [row[0] for row in con.execute(f"select account_id from read_csv('{landing}/crm/accounts.csv')").fetchall()]
    assert ids == ["AAA-2013J-11391", "AAA-2013J-28400", "AAA-2013J-30268", "BBB-2013B-371679", "DDD-2013J-371679"]


def test_customers_carry_account_id(landing: Path) -> None:
    customers = read_jsonl(landing / "billing" / "customers.jsonl")
    assert customers[0]["id"] == "cus_oulad_AAA_2013J_11391"
    assert customers[0]["metadata"] == {"account_id": "AAA-2013J-11391"}
    assert len(customers) == 5


def test_subscription_dates_and_end_reason(landing: Path) -> None:
    subscriptions = {s["metadata"]["account_id"]: s for s in read_jsonl(landing / "billing" / "subscriptions.jsonl")}
    # Start = presentation start + date_registration days; a withdrawal ends the subscription on
    # presentation start + date_unregistration days. 2013J starts 2013-10-01, 2013B 2013-02-01.
    expected = {
        "AAA-2013J-11391": ("2013-04-25", None),  # day -159, passed: no end
        "AAA-2013J-28400": ("2013-08-09", None),  # day -53, passed: no end
        "AAA-2013J-30268": ("2013-07-01", "2013-10-13"),  # day -92, withdrew on day 12
        "BBB-2013B-371679": ("2012-12-21", None),  # day -42, passed: no end
        "DDD-2013J-371679": ("2013-08-31", "2013-09-23"),  # day -31, withdrew on day -8
    }
    for account, (start, withdrawn) in expected.items():
        subscription = subscriptions[account]
        assert subscription["start_date"] == epoch(start), account
        if withdrawn is None:
            assert subscription["status"] == "active", account
            assert subscription["ended_at"] is None, account
            assert subscription["canceled_at"] is None, account
            assert "end_reason" not in subscription["metadata"], account
        else:
            assert subscription["status"] == "canceled", account
            assert subscription["ended_at"] == epoch(withdrawn), account
            assert subscription["canceled_at"] == epoch(withdrawn), account
            assert subscription["metadata"]["end_reason"] == "withdrawn", account


def test_completion_schedules_no_end(landing: Path) -> None:
    subscriptions = {s["metadata"]["account_id"]: s for s in read_jsonl(landing / "billing" / "subscriptions.jsonl")}
    assert subscriptions["AAA-2013J-11391"]["cancel_at"] is None
    assert subscriptions["AAA-2013J-30268"]["cancel_at"] is None
    assert subscriptions["AAA-2013J-11391"]["metadata"]["final_result"] == "Pass"


def test_snapshot_at_data_set_end(landing: Path) -> None:
    subscriptions = {s["metadata"]["account_id"]: s for s in read_jsonl(landing / "billing" / "subscriptions.jsonl")}
    # The last module end of the 22 presentations is AAA 2014J: 2014-10-01 + 269 days = 2015-06-27.
    # The monthly period of a subscription started on 2013-04-25 that contains it is 25 June - 25 July 2015.
    assert subscriptions["AAA-2013J-11391"]["current_period_start"] == epoch("2015-06-25")
    assert subscriptions["AAA-2013J-11391"]["current_period_end"] == epoch("2015-07-25")


def test_subscription_events_created_and_deleted(landing: Path) -> None:
    events = read_jsonl(landing / "billing" / "subscription_events.jsonl")
    withdrawn = [e for e in events if e["data"]["object"]["metadata"]["account_id"] == "AAA-2013J-30268"]
    assert [e["type"] for e in withdrawn] == ["customer.subscription.created", "customer.subscription.deleted"]
    assert withdrawn[0]["created"] == epoch("2013-07-01")
    assert withdrawn[0]["data"]["object"]["status"] == "active"
    assert withdrawn[1]["created"] == epoch("2013-10-13")
    assert withdrawn[1]["data"]["previous_attributes"]["status"] == "active"
    passed = [e for e in events if e["data"]["object"]["metadata"]["account_id"] == "AAA-2013J-11391"]
    assert [e["type"] for e in passed] == ["customer.subscription.created"]
    # Five created events, and a deleted event for each of the two withdrawals.
    assert len(events) == 7


def test_mrr_is_credits_times_nominal_fee(landing: Path) -> None:
    prices = {p["id"]: p for p in read_jsonl(landing / "billing" / "prices.jsonl")}
    subscriptions = {s["metadata"]["account_id"]: s for s in read_jsonl(landing / "billing" / "subscriptions.jsonl")}
    # MRR in cents = studied_credits x 100 cents per credit per month.
    expected_mrr = {"AAA-2013J-11391": 24000, "AAA-2013J-28400": 6000, "AAA-2013J-30268": 6000,
                    "BBB-2013B-371679": 12000, "DDD-2013J-371679": 18000}
    for account, mrr in expected_mrr.items():
        item = subscriptions[account]["items"]["data"][0]
        price = prices[item["price"]["id"]]
        assert price["recurring"] == {"interval": "month", "interval_count": 1}
        assert price["unit_amount"] * item["quantity"] == mrr, account
    assert len(prices) == 22


def test_vle_events_per_account(landing: Path) -> None:
    con = duckdb.connect()
    counts = dict(con.execute(
        f"select \"groupId\", count(*) from read_parquet('{landing}/events/vle/*.parquet') group by 1"
    ).fetchall())
    # studentVle rows per enrolment in the source.
    assert counts == {"AAA-2013J-11391": 196, "AAA-2013J-28400": 430, "AAA-2013J-30268": 76,
                      "BBB-2013B-371679": 238, "DDD-2013J-371679": 101}
    clicks = con.execute(
        f"select sum(cast(json_extract(properties, '$.sum_click') as integer)) "
        f"from read_parquet('{landing}/events/vle/*.parquet') where \"groupId\" = 'AAA-2013J-30268'"
    ).fetchone()[0]
    assert clicks == 281


def test_vle_event_fields(landing: Path) -> None:
    con = duckdb.connect()
    rows = con.execute(
        f"select \"messageId\", \"event\", properties, \"timestamp\" from read_parquet('{landing}/events/vle/*.parquet') "
        "where \"groupId\" = 'AAA-2013J-30268' order by \"timestamp\", \"messageId\" limit 3"
    ).fetchall()
    # Day -10 of 2013J is 2013-09-21; site 546652 (forumng) has two rows that day, 2 and 3 clicks.
    assert rows[0] == ("vle-AAA-2013J-30268-546614--10-1", "vle_homepage",
                       '{"activity_type":"homepage","sum_click":3,"id_site":546614}', "2013-09-21T12:00:00Z")
    assert rows[1][0] == "vle-AAA-2013J-30268-546652--10-1"
    assert json.loads(rows[1][2])["sum_click"] == 2
    assert rows[2][0] == "vle-AAA-2013J-30268-546652--10-2"
    assert json.loads(rows[2][2])["sum_click"] == 3


def test_assessment_events_per_account(landing: Path) -> None:
    con = duckdb.connect()
    counts = dict(con.execute(
        f"select \"groupId\", count(*) from read_parquet('{landing}/events/assessments.parquet') group by 1"
    ).fetchall())
    assert counts == {"AAA-2013J-11391": 5, "AAA-2013J-28400": 5, "BBB-2013B-371679": 11, "DDD-2013J-371679": 2}


def test_feature_catalog_lists_activity_types(landing: Path) -> None:
    con = duckdb.connect()
    rows = con.execute(f"select event_name, is_feature, is_activation from read_csv('{landing}/catalog/features.csv')").fetchall()
    names = [row[0] for row in rows]
    assert len(names) == 21  # 20 activity types in vle + assessment_submitted
    assert "vle_forumng" in names
    assert ("assessment_submitted", True, True) in rows


def test_csv_source_gives_same_landing(landing: Path, tmp_path: Path) -> None:
    source = build_slice(tmp_path / "source", "csv")
    out = tmp_path / "landing"
    import_data_set("oulad", source=source, out_dir=out)
    for name in ("crm/accounts.csv", "billing/customers.jsonl", "billing/prices.jsonl",
                 "billing/subscriptions.jsonl", "billing/subscription_events.jsonl", "catalog/features.csv"):
        assert (out / name).read_bytes() == (landing / name).read_bytes(), name
    con = duckdb.connect()
    for name in ("events/vle/AAA_2013J.parquet", "events/assessments.parquet"):
        ours = con.execute(f"select * from '{out / name}'").fetchall()
        assert ours == con.execute(f"select * from '{landing / name}'").fetchall(), name


def test_imported_files_load_balanced(landing: Path, tmp_path: Path) -> None:
    ingest = pytest.importorskip("cs_warehouse.ingest")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for entity in ENTITIES:
        report = ingest.load_entity(con, entity, landing, log=lambda message: None)
        for file_report in report.files:
            assert file_report.is_balanced, file_report
            assert file_report.rows_rejected == 0, file_report
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 196 + 430 + 76 + 238 + 101 + 5 + 5 + 11 + 2
    assert con.execute("select count(*) from raw.billing_subscription_items").fetchone()[0] == 5
    mrr = con.execute(
        "select sum(p.unit_amount * i.quantity) from raw.billing_subscription_items as i "
        "join raw.billing_prices as p using (price_id)"
    ).fetchone()[0]
    assert mrr == 24000 + 6000 + 6000 + 12000 + 18000
    # The three enrolments that did not withdraw are still active at the end of the data set.
    active = con.execute("select count(*) from raw.billing_subscriptions where status = 'active'").fetchone()[0]
    assert active == 3


def test_missing_folder_names_download(tmp_path: Path) -> None:
    with pytest.raises(CswError, match="analyse.kmi.open.ac.uk"):
        import_data_set("oulad", source=tmp_path / "absent", out_dir=tmp_path / "landing")


def test_missing_table_is_named(tmp_path: Path) -> None:
    source = build_slice(tmp_path / "source", "parquet")
    (source / "vle.parquet").unlink()
    with pytest.raises(CswError, match=r"vle\.parquet or vle\.csv"):
        import_data_set("oulad", source=source, out_dir=tmp_path / "landing")


def test_missing_column_is_named(tmp_path: Path) -> None:
    source = build_slice(tmp_path / "source", "parquet")
    con = duckdb.connect()
    con.execute(f"copy (select code_module, code_presentation from '{source}/courses.parquet') "
                f"to '{source}/courses_cut.parquet' (format parquet)")
    (source / "courses_cut.parquet").replace(source / "courses.parquet")
    with pytest.raises(CswError, match="module_presentation_length"):
        import_data_set("oulad", source=source, out_dir=tmp_path / "landing")


def test_non_empty_out_dir_rejected(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "other.csv").write_text("x\n")
    with pytest.raises(CswError, match="not empty"):
        import_data_set("oulad", source=tmp_path, out_dir=tmp_path / "landing")


def test_module_filter_limits_import(tmp_path: Path) -> None:
    from cs_warehouse.importers.oulad import import_oulad

    source = build_slice(tmp_path / "source", "parquet")
    out = tmp_path / "landing"
    import_oulad(source, out, modules={"BBB"})
    subscriptions = read_jsonl(out / "billing" / "subscriptions.jsonl")
    assert [s["metadata"]["account_id"] for s in subscriptions] == ["BBB-2013B-371679"]
    assert len(read_jsonl(out / "billing" / "prices.jsonl")) == 4  # BBB 2013B, 2013J, 2014B, 2014J
    con = duckdb.connect()
    groups = con.execute(f"select distinct \"groupId\" from read_parquet('{out}/events/**/*.parquet')").fetchall()
    assert groups == [("BBB-2013B-371679",)]


def test_module_filter_unknown_module(tmp_path: Path) -> None:
    from cs_warehouse.importers.oulad import import_oulad

    source = build_slice(tmp_path / "source", "parquet")
    with pytest.raises(CswError, match="module.*ZZZ not found in courses"):
        import_oulad(source, tmp_path / "landing", modules={"ZZZ"})
