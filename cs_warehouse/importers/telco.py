"""Import the IBM Telco customer churn sample (one snapshot of 7,043 fictional customers).

Mapping (docs/real_data.md explains it in prose):
- A customer (customerID) is an account, a Stripe customer and one subscription.
- The contract is the price's interval: month-to-month bills monthly, one year yearly, two year every
  two years. The unit amount is MonthlyCharges times the months of the interval, so MRR normalized to a
  month gives MonthlyCharges back exactly. One price exists per contract and monthly charge.
- The data set has no dates. Every subscription started `tenure` months before SNAPSHOT_DATE, and a
  churned customer's subscription (Churn = Yes) ended and was canceled on SNAPSHOT_DATE.
"""

from __future__ import annotations

import csv
import logging
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cs_warehouse.contract import (
    BILLING_CUSTOMERS,
    BILLING_PRICES,
    BILLING_SUBSCRIPTION_EVENTS,
    BILLING_SUBSCRIPTIONS,
    CRM_ACCOUNTS,
)
from cs_warehouse.errors import CswError
from cs_warehouse.importers._landing import (
    add_months,
    find_file,
    landing_path,
    midnight_utc,
    to_iso,
    write_csv,
    write_jsonl,
)
from cs_warehouse.importers._stripe import Subscription, customer_object, price_object

log = logging.getLogger(__name__)

DATA_SET = "telco"
DOWNLOAD_HINT = (
    "Download Telco-Customer-Churn.csv from https://github.com/IBM/telco-customer-churn-on-icp4d (data/) "
    "or WA_Fn-UseC_-Telco-Customer-Churn.csv from https://www.kaggle.com/datasets/blastchar/telco-customer-churn."
)
FILE_NAMES = ("Telco-Customer-Churn.csv", "WA_Fn-UseC_-Telco-Customer-Churn.csv")

# IBM describes the data as one quarter (Q3) of a fictional company and names no year. The importer
# dates the snapshot on the last day of Q3 2018, the year the Kaggle copy was published.
SNAPSHOT_DATE = date(2018, 9, 30)
CURRENCY = "usd"
COUNTRY = "US"

# Contract -> (price interval, interval count, months per billing period, plan slug)
CONTRACTS = {
    "Month-to-month": ("month", 1, 1, "month_to_month"),
    "One year": ("year", 1, 12, "one_year"),
    "Two year": ("year", 2, 24, "two_year"),
}

REQUIRED_COLUMNS = ("customerID", "tenure", "Contract", "MonthlyCharges", "Churn")
# Source columns copied onto the account row as extra CSV columns; Churn is left out because the
# subscription's end carries it.
ACCOUNT_EXTRA_COLUMNS = (
    "gender", "SeniorCitizen", "Partner", "Dependents", "tenure", "PhoneService", "MultipleLines",
    "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
    "StreamingMovies", "Contract", "PaperlessBilling", "PaymentMethod", "MonthlyCharges", "TotalCharges",
)


def import_telco(source: Path, out_dir: Path) -> None:
    """Write accounts, customers, prices, subscriptions and subscription events for every Telco customer."""
    path = _source_file(source)
    rows = _read_rows(path)
    snapshot = midnight_utc(SNAPSHOT_DATE)

    accounts: list[list[object]] = []
    customers: list[dict[str, object]] = []
    prices: dict[str, dict[str, object]] = {}
    subscriptions: list[Subscription] = []
    for line, row in rows:
        subscription, price = _customer_subscription(row, line, path, snapshot)
        subscriptions.append(subscription)
        # Customers on the same contract and charge share one price, created with the earliest of them.
        existing = prices.get(price["id"])
        if existing is None or price["created"] < existing["created"]:
            prices[price["id"]] = price
        accounts.append(_account_row(row, subscription.start))
        customers.append(customer_object(subscription.customer_id, row["customerID"], row["customerID"], CURRENCY,
                                         subscription.start))

    churned = sum(s.ended_at is not None for s in subscriptions)
    log.info("%s: %d customers, %d churned at %s, %d prices", DATA_SET, len(subscriptions), churned,
             SNAPSHOT_DATE, len(prices))

    header = [column.name for column in CRM_ACCOUNTS.columns] + list(ACCOUNT_EXTRA_COLUMNS)
    write_csv(landing_path(out_dir, CRM_ACCOUNTS, "accounts.csv"), header, accounts)
    write_jsonl(landing_path(out_dir, BILLING_CUSTOMERS, "customers.jsonl"), customers)
    write_jsonl(landing_path(out_dir, BILLING_PRICES, "prices.jsonl"), (prices[key] for key in sorted(prices)))
    write_jsonl(landing_path(out_dir, BILLING_SUBSCRIPTIONS, "subscriptions.jsonl"),
                (s.state(snapshot) for s in subscriptions))
    write_jsonl(
        landing_path(out_dir, BILLING_SUBSCRIPTION_EVENTS, "subscription_events.jsonl"),
        (event for s in subscriptions for event in s.change_events("evt_" + s.subscription_id.removeprefix("sub_"))),
    )


def _source_file(source: Path) -> Path:
    if source.is_file():
        return source
    if not source.exists():
        raise CswError(f"{DATA_SET}: source {source} not found. {DOWNLOAD_HINT}")
    return find_file(source, FILE_NAMES, DATA_SET, DOWNLOAD_HINT)


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Return (line number, row) pairs sorted by customerID, after checking the header."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise CswError(
                f"{DATA_SET}: {path} is missing required column(s) {', '.join(missing)}; found {', '.join(header)}. "
                f"{DOWNLOAD_HINT}"
            )
        rows = [(line, row) for line, row in enumerate(reader, start=2)]
    log.info("%s: read %d rows from %s", DATA_SET, len(rows), path)

    first_line: dict[str, int] = {}
    for line, row in rows:
        customer = row["customerID"].strip()
        if not customer:
            raise CswError(f"{DATA_SET}: {path} line {line}: missing customerID")
        if customer in first_line:
            raise CswError(f"{DATA_SET}: {path} line {line}: duplicate customerID {customer!r}, "
                           f"first seen on line {first_line[customer]}; each customer must appear once")
        first_line[customer] = line
    return sorted(rows, key=lambda pair: pair[1]["customerID"])


def _customer_subscription(
    row: dict[str, str], line: int, path: Path, snapshot: datetime
) -> tuple[Subscription, dict[str, object]]:
    contract = CONTRACTS.get(row["Contract"])
    if contract is None:
        raise CswError(f"{DATA_SET}: {path} line {line}: invalid Contract {row['Contract']!r}; "
                       f"expected one of {', '.join(CONTRACTS)}")
    interval, interval_count, months_per_period, plan = contract
    monthly_cents = _cents(row["MonthlyCharges"], "MonthlyCharges", line, path)
    tenure = _integer(row["tenure"], "tenure", line, path)
    churn = row["Churn"].strip()
    if churn not in ("Yes", "No"):
        raise CswError(f"{DATA_SET}: {path} line {line}: invalid Churn {row['Churn']!r}; expected Yes or No")

    start = add_months(snapshot, -tenure)
    price_id = f"price_telco_{plan}_{monthly_cents}"
    price = price_object(
        price_id=price_id,
        product_id=f"prod_telco_{plan}",
        nickname=f"{row['Contract']} contract at {monthly_cents / 100:.2f} per month",
        tier=plan,
        unit_amount=monthly_cents * months_per_period,
        currency=CURRENCY,
        interval=interval,
        interval_count=interval_count,
        created=start,
    )
    ended_at = snapshot if churn == "Yes" else None
    subscription = Subscription(
        subscription_id=f"sub_telco_{row['customerID']}",
        customer_id=f"cus_telco_{row['customerID']}",
        price_id=price_id,
        quantity=1,
        currency=CURRENCY,
        start=start,
        months_per_period=months_per_period,
        canceled_at=ended_at,
        ended_at=ended_at,
        metadata={"account_id": row["customerID"], "contract": row["Contract"]},
    )
    return subscription, price


def _account_row(row: dict[str, str], created: datetime) -> list[object]:
    values = {
        "account_id": row["customerID"],
        "name": row["customerID"],
        "industry": None,
        "employee_count": None,
        "country": COUNTRY,
        "owner_csm_id": None,
        "created_at": to_iso(created),
    }
    extras = [row.get(column, "").strip() for column in ACCOUNT_EXTRA_COLUMNS]
    return [values[column.name] for column in CRM_ACCOUNTS.columns] + extras


def _cents(text: str, column: str, line: int, path: Path) -> int:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise CswError(f"{DATA_SET}: {path} line {line}: invalid {column} {text!r}; expected a number") from None
    return int((amount * 100).to_integral_value())


def _integer(text: str, column: str, line: int, path: Path) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise CswError(f"{DATA_SET}: {path} line {line}: invalid {column} {text!r}; expected a whole number") from None
    if value < 0:
        raise CswError(f"{DATA_SET}: {path} line {line}: invalid {column} {value}; expected 0 or more")
    return value
