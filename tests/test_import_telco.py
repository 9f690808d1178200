"""Telco importer on the first 20 customers of the real file (6 of them churned).

Expected values were counted by hand from those rows; the snapshot is dated 2018-09-30.
"""

from __future__ import annotations

import csv
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
CHURNED = {"3668-QPYBK", "9237-HQITU", "9305-CDSKC", "7892-POOKP", "0280-XJGEX", "4190-MFLUW"}
MONTHS_PER_INTERVAL = {("month", 1): 1, ("year", 1): 12, ("year", 2): 24}


def public_data_dir() -> Path:
    """The public data sets: $CSW_PUBLIC_DATA, else ../shared/data next to the repository."""
    override = os.environ.get(PUBLIC_DATA_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def source_lines() -> list[str]:
    path = public_data_dir() / "telco" / "Telco-Customer-Churn.csv"
    if not path.is_file():
        pytest.skip(f"Telco data not found at {path}; set {PUBLIC_DATA_ENV} to the public data folder")
    return path.read_text(encoding="utf-8").splitlines()


def write_slice(folder: Path, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Telco-Customer-Churn.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = source_lines()
    source = write_slice(tmp_path_factory.mktemp("telco") / "source", lines[:21])
    out = tmp_path_factory.mktemp("telco") / "landing"
    import_data_set("telco", source=source, out_dir=out)
    return out


def subscriptions_by_account(landing: Path) -> dict[str, dict]:
    return {s["metadata"]["account_id"]: s for s in read_jsonl(landing / "billing" / "subscriptions.jsonl")}


def test_one_account_per_customer(landing: Path) -> None:
    with (landing / "crm" / "accounts.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20
    assert rows[0]["account_id"] == "0280-XJGEX"  # sorted by customerID
    assert {row["country"] for row in rows} == {"US"}
    assert "Churn" not in rows[0]


def test_churn_flag_ends_subscription(landing: Path) -> None:
    subscriptions = subscriptions_by_account(landing)
    ended = {account for account, s in subscriptions.items() if s["status"] == "canceled"}
    assert ended == CHURNED
    for account in CHURNED:
        assert subscriptions[account]["ended_at"] == epoch("2018-09-30"), account
        assert subscriptions[account]["canceled_at"] == epoch("2018-09-30"), account
    assert subscriptions["5575-GNVDE"]["ended_at"] is None


def test_tenure_gives_start_date(landing: Path) -> None:
    subscriptions = subscriptions_by_account(landing)
    # Snapshot 2018-09-30 minus tenure months.
    expected = {"5575-GNVDE": "2015-11-30", "3655-SNQYZ": "2012-12-30", "3668-QPYBK": "2018-07-30",
                "7469-LKBCI": "2017-05-30", "7590-VHVEG": "2018-08-30"}
    for account, start in expected.items():
        assert subscriptions[account]["start_date"] == epoch(start), account


def test_contract_sets_price_interval(landing: Path) -> None:
    prices = {p["id"]: p for p in read_jsonl(landing / "billing" / "prices.jsonl")}
    subscriptions = subscriptions_by_account(landing)

    def price_of(account: str) -> dict:
        return prices[subscriptions[account]["items"]["data"][0]["price"]["id"]]

    assert price_of("7590-VHVEG")["recurring"] == {"interval": "month", "interval_count": 1}
    assert price_of("7590-VHVEG")["unit_amount"] == 2985
    assert price_of("5575-GNVDE")["recurring"] == {"interval": "year", "interval_count": 1}
    assert price_of("5575-GNVDE")["unit_amount"] == 5695 * 12
    assert price_of("3655-SNQYZ")["recurring"] == {"interval": "year", "interval_count": 2}
    assert price_of("3655-SNQYZ")["unit_amount"] == 11325 * 24


def test_yearly_contract_current_period(landing: Path) -> None:
    subscription = subscriptions_by_account(landing)["5575-GNVDE"]
    assert subscription["current_period_start"] == epoch("2017-11-30")
    assert subscription["current_period_end"] == epoch("2018-11-30")


def test_active_mrr_sums_monthly_charges(landing: Path) -> None:
    prices = {p["id"]: p for p in read_jsonl(landing / "billing" / "prices.jsonl")}
    mrr = 0
    for subscription in subscriptions_by_account(landing).values():
        if subscription["status"] != "active":
            continue
        item = subscription["items"]["data"][0]
        price = prices[item["price"]["id"]]
        months = MONTHS_PER_INTERVAL[(price["recurring"]["interval"], price["recurring"]["interval_count"])]
        mrr += price["unit_amount"] * item["quantity"] // months
    # MonthlyCharges of the 14 customers with Churn = No add up to 909.50.
    assert mrr == 90950


def test_subscription_events(landing: Path) -> None:
    events = read_jsonl(landing / "billing" / "subscription_events.jsonl")
    types = [e["type"] for e in events]
    assert types.count("customer.subscription.created") == 20
    assert types.count("customer.subscription.deleted") == 6


def test_tenure_zero_starts_at_snapshot(tmp_path: Path) -> None:
    lines = source_lines()
    tenure_zero = next(line for line in lines[1:] if line.split(",")[5] == "0")
    source = write_slice(tmp_path / "source", [lines[0], tenure_zero])
    import_data_set("telco", source=source, out_dir=tmp_path / "landing")
    (subscription,) = read_jsonl(tmp_path / "landing" / "billing" / "subscriptions.jsonl")
    assert subscription["start_date"] == epoch("2018-09-30")
    assert subscription["status"] == "active"


def test_imported_files_load_balanced(landing: Path, tmp_path: Path) -> None:
    ingest = pytest.importorskip("cs_warehouse.ingest")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for entity in ENTITIES:
        report = ingest.load_entity(con, entity, landing, log=lambda message: None)
        for file_report in report.files:
            assert file_report.is_balanced, file_report
            assert file_report.rows_rejected == 0, file_report
    assert con.execute("select count(*) from raw.crm_accounts").fetchone()[0] == 20
    assert con.execute("select count(*) from raw.billing_subscription_events").fetchone()[0] == 26
    ended = con.execute("select count(*) from raw.billing_subscriptions where ended_at is not null").fetchone()[0]
    assert ended == 6


def test_same_source_same_bytes(landing: Path, tmp_path: Path) -> None:
    source = write_slice(tmp_path / "source", source_lines()[:21])
    import_data_set("telco", source=source, out_dir=tmp_path / "landing")
    for path in sorted(landing.rglob("*.*")):
        relative = path.relative_to(landing)
        assert (tmp_path / "landing" / relative).read_bytes() == path.read_bytes(), relative


def test_missing_file_names_download(tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    with pytest.raises(CswError, match="Telco-Customer-Churn.csv.*kaggle"):
        import_data_set("telco", source=tmp_path / "source", out_dir=tmp_path / "landing")


def test_missing_churn_column_is_named(tmp_path: Path) -> None:
    lines = [",".join(line.split(",")[:-1]) for line in source_lines()[:3]]
    source = write_slice(tmp_path / "source", lines)
    with pytest.raises(CswError, match="missing required column.*Churn"):
        import_data_set("telco", source=source, out_dir=tmp_path / "landing")


def test_invalid_contract_names_line(tmp_path: Path) -> None:
    lines = source_lines()[:3]
    lines[2] = lines[2].replace("One year", "Three year")
    source = write_slice(tmp_path / "source", lines)
    with pytest.raises(CswError, match="line 3: invalid Contract 'Three year'"):
        import_data_set("telco", source=source, out_dir=tmp_path / "landing")


def test_duplicate_customer_names_lines(tmp_path: Path) -> None:
    lines = source_lines()[:3]
    source = write_slice(tmp_path / "source", [*lines, lines[1]])
    with pytest.raises(CswError, match="line 4: duplicate customerID '7590-VHVEG', first seen on line 2"):
        import_data_set("telco", source=source, out_dir=tmp_path / "landing")


def test_cli_prints_error_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cs_warehouse.cli import main

    code = main(["import", "telco", "--from", str(tmp_path / "absent"), "--out", str(tmp_path / "landing")])
    assert code == 2
    error = capsys.readouterr().err
    assert "csw import: error: telco: source" in error
    assert "Traceback" not in error
