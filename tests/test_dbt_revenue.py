"""Revenue marts built by a real `dbt build` on a small warehouse, checked by hand and in Python.

The scenario below is small enough to work out by hand (the expected figures are in the tests).
`recompute_account_mrr` is a second implementation of the MRR policy in pandas and exact
fractions, sharing no code with the dbt models, and must agree with marts.account_mrr_monthly
to the cent on every account and month.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cs_warehouse.config import DBT_PROJECT_DIR, WAREHOUSE_ENV
from cs_warehouse.raw_schema import create_raw_schema

DBT = str(Path(sys.executable).parent / "dbt")
REVENUE_SELECTION = [
    "+int_as_of_date",
    "path:models/staging/billing",
    "path:models/intermediate/revenue",
    "path:models/marts/revenue",
    "path:tests/revenue",
]
COUNTED_STATUSES = {"active", "past_due", "unpaid"}
ZERO_DECIMAL_CURRENCIES = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}
# Billing intervals per month, per interval unit, before dividing by the interval count.
INTERVALS_PER_MONTH = {"month": Fraction(1), "year": Fraction(1, 12), "week": Fraction(52, 12), "day": Fraction(365, 12)}
CENT = Decimal("0.01")
# The as-of instant is the latest record in any dated raw table. Product events count only as the
# track calls staging keeps: attributed to an account and a user, named, and not future-dated.
LATEST_RECORD_SQL = """
select max(latest_at) from (
    select max(event_at) as latest_at from raw.events
    where event_type = 'track' and account_id is not null and user_id is not null and event_name is not null
        and not coalesce(is_future_dated, false)
    union all select max(created_at) from raw.billing_invoices
    union all select max(event_created_at) from raw.billing_subscription_events
    union all select max(created_at) from raw.crm_tickets
    union all select max(answered_at) from raw.crm_nps_responses
    union all select max(occurred_at) from raw.crm_cs_activities
)
"""
RATE_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class RawBilling:
    events: pd.DataFrame
    items: pd.DataFrame
    prices: pd.DataFrame
    customers: pd.DataFrame
    fx_rates: pd.DataFrame
    latest_record_at: pd.Timestamp | None


def read_raw_billing(warehouse: Path) -> RawBilling:
    """Read the raw billing tables the MRR policy needs."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        def read(sql: str) -> pd.DataFrame:
            return con.execute(sql).df()

        latest_record_at = con.execute(LATEST_RECORD_SQL).fetchone()[0]
        return RawBilling(
            events=read("select * from raw.billing_subscription_events"),
            items=read("select * from raw.billing_subscription_event_items"),
            prices=read("select * from raw.billing_prices"),
            customers=read("select customer_id, account_id from raw.billing_customers"),
            fx_rates=read("select * from raw.billing_fx_rates"),
            latest_record_at=pd.Timestamp(latest_record_at) if latest_record_at is not None else None,
        )
    finally:
        con.close()


def to_local(value: object, timezone: str) -> pd.Timestamp | None:
    """Convert a naive UTC timestamp into naive wall-clock time of `timezone`."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_localize("UTC").tz_convert(timezone).tz_localize(None)


def month_measurements(raw: RawBilling, timezone: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Return (month start, measurement instant) for every month from the first event to the as-of month."""
    first = to_local(raw.events["event_created_at"].min(), timezone)
    latest = [raw.events["event_created_at"].max()]
    if raw.latest_record_at is not None:
        latest.append(raw.latest_record_at)
    as_of = to_local(max(latest), timezone)
    month = pd.Timestamp(first.year, first.month, 1)
    as_of_month = pd.Timestamp(as_of.year, as_of.month, 1)
    measurements = []
    while month <= as_of_month:
        next_month = month + pd.DateOffset(months=1)
        instant = as_of if month == as_of_month else next_month - timedelta(seconds=1)
        measurements.append((month, instant))
        month = next_month
    return measurements


def fx_rate(raw: RawBilling, currency: str, month_end: pd.Timestamp, reporting_currency: str) -> Decimal | None:
    """Return the rate of the month-end day, or the latest earlier one; None when there is none."""
    if currency == reporting_currency:
        return Decimal(1)
    rates = raw.fx_rates[
        (raw.fx_rates["currency"].str.lower() == currency)
        & (raw.fx_rates["quote_currency"].str.lower() == reporting_currency)
        & (pd.to_datetime(raw.fx_rates["rate_date"]) <= month_end)
    ]
    if rates.empty:
        return None
    latest = rates.sort_values("rate_date").iloc[-1]["rate"]
    return Decimal(repr(float(latest))).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def version_amounts(raw: RawBilling) -> dict[str, tuple[Fraction, Fraction]]:
    """Return, per event, the items' monthly amount in minor units and the largest months factor."""
    prices = raw.prices.set_index("price_id")
    amounts: dict[str, tuple[Fraction, Fraction]] = {}
    for item in raw.items.itertuples():
        price = prices.loc[item.price_id]
        interval = price["interval"]
        if interval is None or pd.isna(interval):
            factor = Fraction(0)
        else:
            count = 1 if pd.isna(price["interval_count"]) else int(price["interval_count"])
            factor = INTERVALS_PER_MONTH[interval] / count
        amount = int(price["unit_amount"]) * int(item.quantity) * factor
        total, largest_factor = amounts.get(item.event_id, (Fraction(0), Fraction(0)))
        amounts[item.event_id] = (total + amount, max(largest_factor, factor))
    return amounts


def discount_minor(version: pd.Series, gross: Fraction, factor: Fraction, instant: pd.Timestamp,
                   timezone: str) -> Fraction:
    """Return the recurring discount per month that applies at `instant`, in minor units."""
    duration = version["discount_duration"]
    start = to_local(version["discount_start_at"], timezone)
    if duration == "forever":
        applies = start is None or start <= instant
    elif duration == "repeating":
        end = to_local(version["discount_end_at"], timezone)
        if end is None:
            end = start + pd.DateOffset(months=int(version["discount_duration_in_months"]))
        applies = start <= instant < end
    else:
        applies = False
    if not applies:
        return Fraction(0)
    if not pd.isna(version["discount_percent_off"]):
        return gross * Fraction(repr(float(version["discount_percent_off"]))) / 100
    if not pd.isna(version["discount_amount_off"]):
        return int(version["discount_amount_off"]) * factor
    return Fraction(0)


def version_in_effect(versions: pd.DataFrame, instant: pd.Timestamp) -> pd.Series | None:
    """Return the latest version that took effect at or before `instant`."""
    started = versions[versions["valid_from_local"] <= instant]
    return None if started.empty else started.iloc[-1]


def access_has_ended(version: pd.Series, instant: pd.Timestamp, timezone: str) -> bool:
    if not pd.isna(version["ended_at"]):
        access_end = version["ended_at"]
    elif not pd.isna(version["cancel_at"]):
        access_end = version["cancel_at"]
    elif version["cancel_at_period_end"] is True:
        access_end = version["current_period_end_at"]
    else:
        return False
    return to_local(access_end, timezone) <= instant


def subscription_mrr(version: pd.Series, amounts: dict[str, tuple[Fraction, Fraction]], instant: pd.Timestamp,
                     rate: Decimal | None, timezone: str) -> Decimal | None:
    """Return one subscription's MRR in the reporting currency, rounded to the cent."""
    if version["status"] not in COUNTED_STATUSES or access_has_ended(version, instant, timezone):
        return Decimal(0)
    gross, factor = amounts.get(version["event_id"], (Fraction(0), Fraction(0)))
    net = max(gross - discount_minor(version, gross, factor, instant, timezone), Fraction(0))
    if net == 0:
        return Decimal(0)
    if rate is None:
        return None
    net_decimal = (Decimal(net.numerator) / Decimal(net.denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    minor_unit = Decimal(1) if version["currency"].lower() in ZERO_DECIMAL_CURRENCIES else CENT
    return (net_decimal * rate * minor_unit).quantize(CENT, rounding=ROUND_HALF_UP)


def recompute_account_mrr(warehouse: Path, reporting_currency: str = "usd", timezone: str = "UTC") -> pd.DataFrame:
    """Return account_id, month_start_date and mrr (Decimal) for every account-month with a subscription."""
    raw = read_raw_billing(warehouse)
    if raw.events.empty:
        return pd.DataFrame(columns=["account_id", "month_start_date", "mrr"])
    events = raw.events.merge(raw.customers, on="customer_id", how="left")
    events["valid_from_at"] = events["event_created_at"].where(
        ~((events["status"] == "canceled") & events["ended_at"].notna()), events["ended_at"]
    )
    events["valid_from_local"] = [to_local(value, timezone) for value in events["valid_from_at"]]
    events = events.sort_values(["subscription_id", "valid_from_local", "event_created_at", "event_id"])
    amounts = version_amounts(raw)

    rows = []
    for month, instant in month_measurements(raw, timezone):
        month_end = month + pd.DateOffset(months=1) - timedelta(days=1)
        for _, versions in events.groupby("subscription_id", sort=False):
            version = version_in_effect(versions, instant)
            if version is None:
                continue
            rate = fx_rate(raw, version["currency"].lower(), month_end, reporting_currency)
            mrr = subscription_mrr(version, amounts, instant, rate, timezone)
            rows.append({"account_id": version["account_id"], "month_start_date": month.date(), "mrr": mrr})
    subscriptions = pd.DataFrame(rows)
    return (
        subscriptions.groupby(["account_id", "month_start_date"], as_index=False)["mrr"]
        .agg(lambda values: sum(values, Decimal(0)))
    )


def mart_account_mrr(warehouse: Path) -> pd.DataFrame:
    """Read account_id, month_start_date and mrr from marts.account_mrr_monthly."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select account_id, month_start_date, mrr from marts.account_mrr_monthly order by 1, 2"
        ).df()
    finally:
        con.close()


def compare_to_mart(warehouse: Path, reporting_currency: str = "usd", timezone: str = "UTC") -> list[str]:
    """Return one line per account-month where the mart and the recomputation differ."""
    expected = recompute_account_mrr(warehouse, reporting_currency, timezone)
    actual = mart_account_mrr(warehouse)
    expected_by_key = {
        (row.account_id, row.month_start_date): row.mrr for row in expected.itertuples() if row.mrr != 0
    }
    actual_by_key = {
        (row.account_id, pd.Timestamp(row.month_start_date).date()): Decimal(str(row.mrr))
        for row in actual.itertuples()
        if row.mrr != 0
    }
    differences = []
    for key in sorted(set(expected_by_key) | set(actual_by_key), key=str):
        want, got = expected_by_key.get(key, Decimal(0)), actual_by_key.get(key, Decimal(0))
        if want != got:
            differences.append(f"account {key[0]} month {key[1]}: recomputed {want}, mart {got}")
    return differences


def monthly_totals(frame: pd.DataFrame) -> dict[object, Decimal]:
    """Return total MRR per month of an account_id, month_start_date, mrr frame."""
    totals: dict[object, Decimal] = {}
    for row in frame.itertuples():
        month = pd.Timestamp(row.month_start_date).date()
        totals[month] = totals.get(month, Decimal(0)) + Decimal(str(row.mrr))
    return totals


# ---------------------------------------------------------------------------------------------
# Running dbt


def run_dbt(args: list[str], warehouse: Path, work_dir: Path, project_dir: Path = DBT_PROJECT_DIR,
            dbt_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one dbt command on `warehouse`, keeping target/ and logs/ under `work_dir`."""
    command = [
        DBT, *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    environment = {**os.environ, WAREHOUSE_ENV: str(warehouse)}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def build_revenue_models(warehouse: Path, work_dir: Path) -> str:
    """Run `dbt build` on the billing staging and the revenue models, tests and unit tests included.

    Returns dbt's output.
    """
    result = run_dbt(["build", "--select", *REVENUE_SELECTION], warehouse, work_dir)
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


# ---------------------------------------------------------------------------------------------
# A small billing history, worked out by hand.
#
# Account A: 100.00 a month from January (after a trial), 2 seats (200.00) from March. A once
#            coupon of 50 % never lowers its MRR.
# Account B: an annual plan (1,200.00 a year = 100.00 a month) with a forever 10 % coupon: 90.00,
#            plus 2 seats of 15.00 on a second subscription: 120.00. The seats are cancelled in
#            February at period end (15 March): scheduled churn of 30.00 in February, 90.00 from March.
# Account C: 50.00 EUR a month: 55.00 USD in January (rate 1.10), 60.00 in February (1.20). It is
#            past_due at the end of February and still counts. It is canceled on 25 March (churn).
#            It comes back on 2 May after March and April at 0 (reactivation), at April's rate
#            1.05: 52.50.
# Account D: a trial that never converts: no MRR, no rows.
# Account E: 100.00 a month from 1 March with 20.00 off for 2 months: 80.00 in March and April,
#            100.00 in May.
# The latest record is an invoice on 20 May 2024, so May is the as-of month.

CUSTOMERS = {"cus_a": "acc_a", "cus_b": "acc_b", "cus_c": "acc_c", "cus_d": "acc_d", "cus_e": "acc_e"}
PRICES = [
    {"price_id": "price_month", "unit_amount": 10000, "currency": "usd", "interval": "month", "interval_count": 1},
    {"price_id": "price_year", "unit_amount": 120000, "currency": "usd", "interval": "year", "interval_count": 1},
    {"price_id": "price_quarter", "unit_amount": 30000, "currency": "usd", "interval": "month", "interval_count": 3},
    {"price_id": "price_seat", "unit_amount": 1500, "currency": "usd", "interval": "month", "interval_count": 1},
    {"price_id": "price_month_eur", "unit_amount": 5000, "currency": "eur", "interval": "month", "interval_count": 1},
]
FX_RATES = [
    {"rate_date": date(2024, 1, 31), "currency": "eur", "quote_currency": "usd", "rate": 1.10},
    {"rate_date": date(2024, 2, 29), "currency": "eur", "quote_currency": "usd", "rate": 1.20},
    {"rate_date": date(2024, 4, 15), "currency": "eur", "quote_currency": "usd", "rate": 1.05},
    {"rate_date": date(2024, 4, 15), "currency": "eur", "quote_currency": "gbp", "rate": 0.85},
]


@dataclass
class Subscription:
    subscription_id: str
    customer_id: str
    currency: str = "usd"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def subscription_events() -> list[tuple[Subscription, dict[str, object], list[tuple[str, str, int]]]]:
    """Return (subscription, state after the change, items) for every subscription event."""
    sub_a1 = Subscription("sub_a1", "cus_a")
    sub_b1 = Subscription("sub_b1", "cus_b")
    sub_b2 = Subscription("sub_b2", "cus_b")
    sub_c1 = Subscription("sub_c1", "cus_c", "eur")
    sub_c2 = Subscription("sub_c2", "cus_c", "eur")
    sub_d1 = Subscription("sub_d1", "cus_d")
    sub_e1 = Subscription("sub_e1", "cus_e")

    once_coupon = {"discount_duration": "once", "discount_percent_off": 50.0, "discount_start_at": at("2024-01-10")}
    forever_coupon = {"discount_duration": "forever", "discount_percent_off": 10.0, "discount_start_at": at("2024-01-15")}
    repeating_coupon = {
        "discount_duration": "repeating", "discount_amount_off": 2000, "discount_duration_in_months": 2,
        "discount_start_at": at("2024-03-01"),
    }

    return [
        (sub_a1, {"at": at("2024-01-10 09:00"), "status": "trialing", **once_coupon}, [("si_a1", "price_month", 1)]),
        (sub_a1, {"at": at("2024-01-24 09:00"), "status": "active", **once_coupon}, [("si_a1", "price_month", 1)]),
        (sub_a1, {"at": at("2024-03-05 10:00"), "status": "active", **once_coupon}, [("si_a1", "price_month", 2)]),
        (sub_b1, {"at": at("2024-01-15 12:00"), "status": "active", **forever_coupon}, [("si_b1", "price_year", 1)]),
        (sub_b2, {"at": at("2024-01-15 12:00"), "status": "active"}, [("si_b2", "price_seat", 2)]),
        (sub_b2, {"at": at("2024-02-20 08:00"), "status": "active", "cancel_at_period_end": True,
                  "canceled_at": at("2024-02-20 08:00"), "current_period_end_at": at("2024-03-15 12:00")},
         [("si_b2", "price_seat", 2)]),
        (sub_b2, {"at": at("2024-03-15 12:00:03"), "status": "canceled", "cancel_at_period_end": True,
                  "canceled_at": at("2024-02-20 08:00"), "ended_at": at("2024-03-15 12:00"),
                  "current_period_end_at": at("2024-03-15 12:00")},
         [("si_b2", "price_seat", 2)]),
        (sub_c1, {"at": at("2024-01-05 00:00"), "status": "active"}, [("si_c1", "price_month_eur", 1)]),
        (sub_c1, {"at": at("2024-02-25 00:00"), "status": "past_due"}, [("si_c1", "price_month_eur", 1)]),
        (sub_c1, {"at": at("2024-03-25 00:00"), "status": "canceled", "ended_at": at("2024-03-25 00:00"),
                  "canceled_at": at("2024-03-25 00:00")}, [("si_c1", "price_month_eur", 1)]),
        (sub_c2, {"at": at("2024-05-02 00:00"), "status": "active"}, [("si_c2", "price_month_eur", 1)]),
        (sub_d1, {"at": at("2024-02-10 00:00"), "status": "trialing"}, [("si_d1", "price_quarter", 1)]),
        (sub_d1, {"at": at("2024-03-10 00:00"), "status": "canceled", "ended_at": at("2024-03-10 00:00")},
         [("si_d1", "price_quarter", 1)]),
        (sub_e1, {"at": at("2024-03-01 00:00"), "status": "active", **repeating_coupon}, [("si_e1", "price_month", 1)]),
    ]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, object]]) -> None:
    """Insert rows into raw.<table>, with load metadata, naming the columns each row sets."""
    for line, row in enumerate(rows, start=1):
        values = {**row, "_source_file": f"test/{table}.jsonl", "_source_line": line, "_loaded_at": datetime(2024, 6, 1)}
        columns = ", ".join(f'"{name}"' for name in values)
        placeholders = ", ".join("?" for _ in values)
        con.execute(f"insert into raw.{table} ({columns}) values ({placeholders})", list(values.values()))


def write_scenario(warehouse: Path) -> None:
    """Create the raw schema in `warehouse` and load the billing history described above."""
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
        insert_rows(con, "billing_customers", [
            {"customer_id": customer, "account_id": account, "created_at": datetime(2024, 1, 1)}
            for customer, account in CUSTOMERS.items()
        ])
        insert_rows(con, "billing_prices", PRICES)
        insert_rows(con, "billing_fx_rates", FX_RATES)
        events, items = [], []
        for number, (subscription, state, event_items) in enumerate(subscription_events(), start=1):
            event_id = f"evt_{number:03d}"
            state = dict(state)
            created = state.pop("at")
            events.append({
                "event_id": event_id,
                "event_type": "customer.subscription.updated",
                "event_created_at": created,
                "subscription_id": subscription.subscription_id,
                "customer_id": subscription.customer_id,
                "currency": subscription.currency,
                "created_at": created,
                **state,
            })
            items += [
                {"event_id": event_id, "item_id": item_id, "price_id": price_id, "quantity": quantity}
                for item_id, price_id, quantity in event_items
            ]
        insert_rows(con, "billing_subscription_events", events)
        insert_rows(con, "billing_subscription_event_items", items)
        insert_rows(con, "billing_invoices", [
            {"invoice_id": "in_c", "customer_id": "cus_c", "status": "paid", "currency": "eur", "total": 5000,
             "created_at": at("2024-02-10 00:00")},
            {"invoice_id": "in_a", "customer_id": "cus_a", "status": "paid", "currency": "usd", "total": 20000,
             "created_at": at("2024-05-20 12:00")},
        ])
    finally:
        con.close()


@dataclass(frozen=True)
class RevenueBuild:
    warehouse: Path
    dbt_output: str


@pytest.fixture(scope="module")
def revenue_build(tmp_path_factory: pytest.TempPathFactory) -> RevenueBuild:
    """The scenario's warehouse after `dbt build` of the revenue models, and dbt's output."""
    work_dir = tmp_path_factory.mktemp("revenue")
    warehouse = work_dir / "warehouse.duckdb"
    write_scenario(warehouse)
    return RevenueBuild(warehouse, build_revenue_models(warehouse, work_dir))


@pytest.fixture(scope="module")
def revenue_warehouse(revenue_build: RevenueBuild) -> Path:
    return revenue_build.warehouse


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Tests


def test_account_mrr_by_hand(revenue_warehouse: Path) -> None:
    rows = query(
        revenue_warehouse,
        "select account_id, month_start_date, mrr, movement_type from marts.account_mrr_monthly order by 1, 2",
    )
    expected = [
        ("acc_a", date(2024, 1, 1), Decimal("100.00"), "new"),
        ("acc_a", date(2024, 2, 1), Decimal("100.00"), "unchanged"),
        ("acc_a", date(2024, 3, 1), Decimal("200.00"), "expansion"),
        ("acc_a", date(2024, 4, 1), Decimal("200.00"), "unchanged"),
        ("acc_a", date(2024, 5, 1), Decimal("200.00"), "unchanged"),
        ("acc_b", date(2024, 1, 1), Decimal("120.00"), "new"),
        ("acc_b", date(2024, 2, 1), Decimal("120.00"), "unchanged"),
        ("acc_b", date(2024, 3, 1), Decimal("90.00"), "contraction"),
        ("acc_b", date(2024, 4, 1), Decimal("90.00"), "unchanged"),
        ("acc_b", date(2024, 5, 1), Decimal("90.00"), "unchanged"),
        ("acc_c", date(2024, 1, 1), Decimal("55.00"), "new"),
        ("acc_c", date(2024, 2, 1), Decimal("60.00"), "expansion"),
        ("acc_c", date(2024, 3, 1), Decimal("0.00"), "churn"),
        ("acc_c", date(2024, 4, 1), Decimal("0.00"), "inactive"),
        ("acc_c", date(2024, 5, 1), Decimal("52.50"), "reactivation"),
        ("acc_e", date(2024, 3, 1), Decimal("80.00"), "new"),
        ("acc_e", date(2024, 4, 1), Decimal("80.00"), "unchanged"),
        ("acc_e", date(2024, 5, 1), Decimal("100.00"), "expansion"),
    ]
    assert rows == expected


def test_scheduled_churn_reported_separately(revenue_warehouse: Path) -> None:
    rows = query(
        revenue_warehouse,
        "select month_start_date, scheduled_churn_mrr from marts.account_mrr_monthly "
        "where account_id = 'acc_b' order by 1",
    )
    assert rows[1] == (date(2024, 2, 1), Decimal("30.00"))
    assert all(amount == 0 for month, amount in rows if month != date(2024, 2, 1))


def test_march_retention_by_hand(revenue_warehouse: Path) -> None:
    # Opening 280.00 (A 100, B 120, C 60). A expands by 100, B contracts by 30, C churns 60, E is new
    # at 80: 280 + 80 + 100 - 30 - 60 = 370. NRR (200 + 90 + 0) / 280, GRR (100 + 90 + 0) / 280.
    row = query(
        revenue_warehouse,
        "select starting_mrr, new_mrr, reactivation_mrr, expansion_mrr, contraction_mrr, churned_mrr, "
        "ending_mrr, nrr, grr, logo_churn_rate, quick_ratio from marts.revenue_retention "
        "where window_name = 'month' and month_start_date = '2024-03-01'",
    )[0]
    assert row[:7] == tuple(Decimal(value) for value in ("280.00", "80.00", "0.00", "100.00", "30.00", "60.00", "370.00"))
    assert row[7] == Decimal("1.035714")
    assert row[8] == Decimal("0.678571")
    assert row[9] == Decimal("0.333333")
    assert row[10] == Decimal("2.000000")


def test_cohort_retention_by_hand(revenue_warehouse: Path) -> None:
    # January cohort: A, B and C with 275.00. In March C has churned (2 of 3, 290.00); in May it is
    # back (3 of 3, 342.50).
    rows = query(
        revenue_warehouse,
        "select months_since_first_mrr, cohort_accounts, retained_accounts, logo_retention, mrr, "
        "revenue_retention from marts.cohort_retention where cohort_month_start_date = '2024-01-01' order by 1",
    )
    assert rows[0] == (0, 3, 3, Decimal("1.000000"), Decimal("275.00"), Decimal("1.000000"))
    assert rows[2] == (2, 3, 2, Decimal("0.666667"), Decimal("290.00"), Decimal("1.054545"))
    assert rows[4] == (4, 3, 3, Decimal("1.000000"), Decimal("342.50"), Decimal("1.245455"))


def test_invoice_converted_at_month_end_rate(revenue_warehouse: Path) -> None:
    rows = query(revenue_warehouse, "select invoice_id, fx_rate, total_reporting from staging.stg_billing__invoices order by 1")
    assert rows == [("in_a", 1.0, Decimal("200.00")), ("in_c", 1.2, Decimal("60.00"))]


def test_mart_matches_python_recomputation(revenue_warehouse: Path) -> None:
    assert compare_to_mart(revenue_warehouse) == []
    totals = monthly_totals(mart_account_mrr(revenue_warehouse))
    assert totals == monthly_totals(recompute_account_mrr(revenue_warehouse))
    assert totals[date(2024, 5, 1)] == Decimal("442.50")


def test_missing_fx_rate_fails_build(revenue_warehouse: Path, tmp_path: Path) -> None:
    # Without EUR rates, account C's revenue cannot be converted: the build must fail on the
    # not_null test rather than drop it.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(revenue_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute("delete from raw.billing_fx_rates where currency = 'eur'")
    con.close()
    result = run_dbt(
        ["build", "--select", "int_fx_rates_monthly", "int_subscription_mrr_monthly", "--indirect-selection", "cautious"],
        warehouse,
        tmp_path,
    )
    assert result.returncode != 0
    assert re.search(r"FAIL \d+ not_null_int_subscription_mrr_monthly_mrr", result.stdout), result.stdout[-3000:]


def test_build_runs_unit_tests(revenue_build: RevenueBuild) -> None:
    # `dbt build` runs every unit test of the selected models before building them.
    passed = [line for line in revenue_build.dbt_output.splitlines() if " PASS " in line and "::" in line]
    assert any("revenue_retention::nrr_and_grr_leave_out_new_accounts" in line for line in passed)
    assert any("int_subscription_version_items::prices_normalized_to_one_month" in line for line in passed)
    assert len(passed) >= 14


def test_unit_test_failure_fails_dbt(revenue_warehouse: Path, tmp_path: Path) -> None:
    # A copy of the project with one hand-worked number changed (NRR 75 % -> 80 %) must fail.
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    marts_yaml = project / "models" / "marts" / "revenue" / "_revenue__marts.yml"
    text = marts_yaml.read_text(encoding="utf-8")
    assert "nrr: 0.75," in text
    marts_yaml.write_text(text.replace("nrr: 0.75,", "nrr: 0.80,"), encoding="utf-8")
    result = run_dbt(
        ["test", "--select", "nrr_and_grr_leave_out_new_accounts"], revenue_warehouse, tmp_path, project_dir=project
    )
    assert result.returncode != 0
    assert "Failure in unit_test nrr_and_grr_leave_out_new_accounts" in result.stdout
    assert "differs from" in result.stdout


def test_pipeline_warehouse_matches_recomputation(request: pytest.FixtureRequest) -> None:
    try:
        warehouse = request.getfixturevalue("pipeline_warehouse")
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py has no pipeline_warehouse fixture yet")
    assert compare_to_mart(Path(warehouse)) == []


# ---------------------------------------------------------------------------------------------
# Dagster wiring


def test_translator_asset_keys_and_groups() -> None:
    from orchestration.assets.dbt import asset_key_for_dbt_resource, group_for_dbt_resource

    model = {
        "resource_type": "model", "schema": "marts", "name": "account_mrr_monthly",
        "fqn": ["cs_warehouse", "marts", "revenue", "account_mrr_monthly"],
    }
    source = {"resource_type": "source", "source_name": "raw", "name": "billing_prices"}
    assert asset_key_for_dbt_resource(model).path == ["marts", "account_mrr_monthly"]
    assert asset_key_for_dbt_resource(source).path == ["raw", "billing_prices"]
    assert group_for_dbt_resource(model) == "marts"


def test_dbt_tests_are_asset_checks() -> None:
    # Dagster logs a singular test that reads several models as an observation, not a check, unless
    # its meta names the model it belongs to.
    from orchestration.assets.dbt import DBT_PROJECT
    from orchestration.definitions import defs

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))
    test_names = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert test_names - check_names == set()


def test_manifest_staleness(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from orchestration.assets.dbt import is_manifest_stale

    (tmp_path / "models").mkdir()
    model_file = tmp_path / "models" / "example.sql"
    model_file.write_text("select 1 as id\n", encoding="utf-8")
    manifest = tmp_path / "target" / "manifest.json"
    project = SimpleNamespace(project_dir=tmp_path, manifest_path=manifest)
    assert is_manifest_stale(project)

    manifest.parent.mkdir()
    manifest.write_text("{}", encoding="utf-8")
    os.utime(model_file, (1_000_000, 1_000_000))
    os.utime(manifest, (2_000_000, 2_000_000))
    assert not is_manifest_stale(project)

    os.utime(model_file, (3_000_000, 3_000_000))
    assert is_manifest_stale(project)


def test_prune_keeps_newest_folders(tmp_path: Path) -> None:
    from orchestration.assets.dbt import prune_invocation_folders

    # Folder names as dagster-dbt writes them: <step>-<first 7 characters of the run id>-<7 hex digits>.
    folders = []
    for i in range(6):
        folder = tmp_path / f"dbt_core_models_2-{i:07x}-abc{i:04x}"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}", encoding="utf-8")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
        folders.append(folder)
    other = tmp_path / "compiled"
    other.mkdir()
    os.utime(other, (1, 1))
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")

    deleted = prune_invocation_folders(tmp_path, keep=4)

    assert deleted == [folders[1], folders[0]]
    assert [folder.exists() for folder in folders] == [False, False, True, True, True, True]
    assert other.exists()
    assert (tmp_path / "manifest.json").exists()
    assert prune_invocation_folders(tmp_path / "missing") == []


def test_dagster_step_fails_on_error_test(revenue_warehouse: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A failing error-severity dbt test must fail the Dagster step, show as a failed asset check,
    # and leave the models downstream of it unmaterialized.
    import dagster as dg
    from dagster_dbt import DbtCliResource

    from orchestration.assets.dbt import DBT_EXECUTABLE, DBT_PROJECT, dbt_core_models

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(revenue_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute("delete from raw.billing_fx_rates where currency = 'eur'")
    con.close()
    monkeypatch.setenv(WAREHOUSE_ENV, str(warehouse))

    selection = [
        dg.AssetKey(["intermediate", name])
        for name in ("int_revenue_months", "int_subscription_versions", "int_subscription_version_items",
                     "int_fx_rates_monthly", "int_subscription_mrr_monthly", "int_account_mrr_monthly")
    ] + [dg.AssetKey(["marts", "account_mrr_monthly"])]
    result = dg.materialize(
        [dbt_core_models],
        selection=selection,
        resources={"dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)},
        raise_on_error=False,
    )

    assert not result.success
    failed_checks = [
        evaluation.check_name for evaluation in result.get_asset_check_evaluations() if not evaluation.passed
    ]
    assert "not_null_int_subscription_mrr_monthly_mrr" in failed_checks
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert dg.AssetKey(["intermediate", "int_fx_rates_monthly"]) in materialized
    assert dg.AssetKey(["marts", "account_mrr_monthly"]) not in materialized
