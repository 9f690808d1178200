"""Compute the three core marts with pandas, the way an analyst would without the warehouse.

    .venv/bin/python -m bench.pandas_marts --landing DIR --out DIR

Reads the landing folder itself (CRM CSV, billing JSON Lines, events as JSON Lines or Parquet, the
feature catalog) and writes account_mrr_monthly.parquet, account_engagement_weekly.parquet and
account_health_daily.parquet to --out. Columns, grain and values follow the dbt marts of the same
names with the dbt vars' defaults (reporting currency usd, time zone UTC). It applies the ingestion
rules that change results. Rows with a missing required value or an invalid value are left out, and
duplicates keep the first row by file and line. Events keep the copy received first per messageId,
event time is corrected for clock skew, and future-dated events are left out.

Everything is held in memory at once: no chunking, no spilling. pyarrow serves only as pandas'
Parquet engine and to list a Parquet file's columns.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq  # only to list a Parquet file's columns before pandas reads them

from cs_warehouse.contract import (
    BILLING_CUSTOMERS,
    BILLING_FX_RATES,
    BILLING_INVOICES,
    BILLING_PRICES,
    BILLING_SUBSCRIPTION_EVENTS,
    CATALOG_FEATURES,
    CRM_ACCOUNTS,
    CRM_CONTACTS,
    CRM_CS_ACTIVITIES,
    CRM_NPS_RESPONSES,
    CRM_TICKETS,
    EVENTS,
    FUTURE_EVENT_TOLERANCE_SECONDS,
    ChildTable,
    Column,
    Entity,
)
from cs_warehouse.errors import CswError, LandingError

LOGGER = logging.getLogger(__name__)

# The dbt var's default. Days, weeks and months are UTC calendar periods (the default reporting time
# zone), and other time zones are not supported.
REPORTING_CURRENCY = "usd"
# Stripe's zero-decimal currencies: their minor unit is the major unit.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)

# Subscription statuses that count towards MRR, and those that make an account paying on a day.
MRR_STATUSES = ("active", "past_due", "unpaid")
PAYING_STATUSES = ("active", "past_due")

BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

# A session is a user's run of events with no gap of more than this many minutes.
SESSION_GAP_MINUTES = 30
HEALTH_WEIGHTS = {"usage": 0.35, "engagement": 0.25, "satisfaction": 0.20, "growth": 0.15, "relationship": 0.05}
HEALTH_COMPONENTS = tuple(HEALTH_WEIGHTS)
# The same weights in hundredths, so that sums of weights are exact.
HEALTH_WEIGHT_HUNDREDTHS = {name: round(weight * 100) for name, weight in HEALTH_WEIGHTS.items()}

EVENT_COLUMNS = (
    "message_id", "event_type", "event_name", "user_id", "account_id", "timestamp", "sent_at", "received_at",
)
TIMESTAMP_UNIT = "datetime64[us]"
ONE_DAY = pd.Timedelta(days=1)

MART_FILES = {
    "account_mrr_monthly": "account_mrr_monthly.parquet",
    "account_engagement_weekly": "account_engagement_weekly.parquet",
    "account_health_daily": "account_health_daily.parquet",
}


# ---------------------------------------------------------------------------------------------
# Landing files and typing by the contract


def find_files(entity: Entity, landing: Path) -> list[Path]:
    """Return the entity's landing files (each glob and its .gz variant), hidden files skipped, in path order."""
    matches: set[Path] = set()
    for pattern in entity.patterns:
        for variant in (pattern, f"{pattern}.gz"):
            matches.update(p for p in landing.glob(variant) if p.is_file() and not p.name.startswith("."))
    return sorted(matches, key=lambda p: p.relative_to(landing).as_posix())


def _text(values: pd.Series) -> pd.Series:
    """Return the values as text, NaN where missing or blank."""
    text = values.astype("str")
    return text.where(text.str.strip() != "")


def _as_utc_naive(values: pd.Series) -> pd.Series:
    """Return datetimes as naive UTC at microsecond resolution."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype(TIMESTAMP_UNIT)


def type_column(values: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """Type landing values by the column's contract kind; also return the mask of rows to reject.

    A missing or blank value is NULL. A present value that does not parse as the kind, or breaks the
    column's allowed values or range, rejects its row, and so does a NULL in a required column.
    """
    kind = column.kind
    if kind == "json" or pd.api.types.is_datetime64_any_dtype(values.dtype):
        typed = values if kind == "json" else _as_utc_naive(values)
        present = values.notna()
    else:
        text = _text(values)
        present = text.notna()
        typed = _parse_text(text if kind == "string" else text.str.strip(), kind)

    invalid = present & typed.isna()
    if column.allowed is not None:
        invalid |= typed.notna() & ~typed.isin(column.allowed)
    if column.minimum is not None:
        invalid |= (typed < column.minimum).fillna(False).astype(bool)
    if column.maximum is not None:
        invalid |= (typed > column.maximum).fillna(False).astype(bool)
    if column.required:
        invalid |= typed.isna()
    return typed, invalid


def _parse_text(text: pd.Series, kind: str) -> pd.Series:
    """Parse text by a contract kind other than json, NaN where the text is invalid for it."""
    if kind == "string":
        return text
    if kind in ("integer", "float"):
        numbers = pd.to_numeric(text, errors="coerce")
        if kind == "integer":
            return numbers.where(numbers == numbers.round()).astype("Int64")
        return numbers.where(np.isfinite(numbers))
    if kind == "boolean":
        return text.str.lower().map(BOOLEAN_WORDS).astype("boolean")
    if kind == "timestamp":
        return _as_utc_naive(pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce"))
    if kind == "epoch":
        seconds = pd.to_numeric(text, errors="coerce")
        return pd.to_datetime(seconds, unit="s", errors="coerce").astype(TIMESTAMP_UNIT)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype(TIMESTAMP_UNIT)


def type_frame(raw: pd.DataFrame, columns: Sequence[Column], path: Path) -> pd.DataFrame:
    """Type the contract columns of one landing file and drop the rows ingestion would reject.

    NOTE: json columns are not validated, so a row that ingestion rejects for invalid JSON in
    `properties` or `traits` is kept here.
    """
    typed = {}
    rejected = pd.Series(False, index=raw.index)
    for column in columns:
        if column.source_path not in raw.columns:
            if column.required and len(raw):
                raise LandingError(f"{path}: required column {column.source_path!r} is missing; add it to the export")
            typed[column.name] = type_column(pd.Series(None, index=raw.index, dtype="object"), column)[0]
            continue
        typed[column.name], invalid = type_column(raw[column.source_path], column)
        rejected |= invalid
    frame = pd.DataFrame(typed, index=raw.index)
    if rejected.any():
        LOGGER.warning("%s: left out %d rows with a missing required or an invalid value", path, int(rejected.sum()))
    return frame[~rejected]


def read_records(path: Path) -> pd.DataFrame:
    """Read one JSON Lines file into a flat frame whose columns are the records' dotted field paths."""
    raw = pd.read_json(path, lines=True, dtype=False)
    if raw.empty:
        return raw
    return pd.json_normalize(raw.to_dict(orient="records"))


def read_child_rows(records: pd.DataFrame, parent: pd.DataFrame, child: ChildTable, path: Path) -> pd.DataFrame:
    """Unnest a child array (Stripe's items.data, lines.data) of the loaded parent rows."""
    if child.array_path not in records.columns:
        return pd.DataFrame(columns=[child.parent_key, *(c.name for c in child.columns)])
    arrays = records.loc[parent.index, child.array_path].explode().dropna()
    elements = pd.json_normalize(arrays.tolist())
    elements.index = arrays.index
    rows = type_frame(elements, child.columns, path)
    rows.insert(0, child.parent_key, parent.loc[rows.index, child.parent_key].to_numpy())
    return rows.reset_index(drop=True)


def read_entity(
    landing: Path, entity: Entity, with_children: bool = False
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Read every file of a CSV or JSON Lines entity, typed and deduplicated on its key (first by file and line)."""
    files = find_files(entity, landing)
    if not files:
        expected = ", ".join(entity.patterns)
        raise CswError(f"no landing files for raw.{entity.table} under {landing} (expected {expected})")
    parents, children = [], {child.table: [] for child in entity.children}
    for path in files:
        if entity.file_format == "csv":
            records = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        else:
            records = read_records(path)
        parent = type_frame(records, entity.columns, path)
        parents.append(parent)
        for child in entity.children if with_children else ():
            children[child.table].append(read_child_rows(records, parent, child, path))

    frame = pd.concat(parents, ignore_index=True).drop_duplicates(subset=list(entity.key), keep="first")
    child_frames = {}
    for child in entity.children if with_children else ():
        rows = pd.concat(children[child.table], ignore_index=True)
        rows = rows[rows[child.parent_key].isin(frame[child.parent_key])]
        child_frames[child.table] = rows.drop_duplicates(subset=list(child.key), keep="first")
    return frame.reset_index(drop=True), child_frames


# ---------------------------------------------------------------------------------------------
# Product events


def _context_group_ids(contexts: pd.Series) -> pd.Series:
    """Return context.groupId of each Segment context (a dict from JSON Lines, JSON text from Parquet)."""

    def group_id(context: object) -> object:
        if isinstance(context, str):
            try:
                context = json.loads(context)
            except json.JSONDecodeError:
                return None
        return context.get("groupId") if isinstance(context, dict) else None

    return contexts.map(group_id)


def read_event_file(path: Path) -> pd.DataFrame:
    """Read one events file (JSON Lines or Parquet) into typed columns; account_id falls back to context.groupId."""
    columns = {c.name: c for c in EVENTS.columns}
    sources = [columns[name].source_path for name in EVENT_COLUMNS] + ["context"]
    if path.name.removesuffix(".gz").endswith(".parquet"):
        available = set(pq.read_schema(path).names)
        raw = pd.read_parquet(path, columns=[s for s in sources if s in available])
    else:
        raw = pd.read_json(path, lines=True, dtype=False)
        raw = raw[[s for s in sources if s in raw.columns]]

    frame = type_frame(raw, [columns[name] for name in EVENT_COLUMNS], path)
    missing_account = frame["account_id"].isna()
    if missing_account.any() and "context" in raw.columns:
        fallback = _text(_context_group_ids(raw.loc[frame.index[missing_account], "context"]))
        frame.loc[missing_account, "account_id"] = fallback
    return frame


def read_track_events(landing: Path) -> pd.DataFrame:
    """Return the attributable, non-future track calls: account_id, user_id, event_name, event_at, event_date.

    Copies of a messageId keep the one received first (ties go to the earlier file and line), then
    event_at = receivedAt - (sentAt - timestamp) corrects client clock skew.
    """
    files = find_files(EVENTS, landing)
    if not files:
        raise CswError(f"no event files under {landing / 'events'} (expected {', '.join(EVENTS.patterns)})")
    frames = [read_event_file(path) for path in files]
    events = pd.concat(frames, ignore_index=True)
    del frames
    events = events.sort_values("received_at", kind="stable").drop_duplicates(subset="message_id", keep="first")

    skew = events["sent_at"] - events["timestamp"]
    events["event_at"] = (events["received_at"] - skew).where(events["sent_at"].notna(), events["timestamp"])
    is_future = events["event_at"] > events["received_at"] + pd.Timedelta(seconds=FUTURE_EVENT_TOLERANCE_SECONDS)
    keep = (
        (events["event_type"] == "track")
        & events["account_id"].notna()
        & events["user_id"].notna()
        & events["event_name"].notna()
        & ~is_future
    )
    track = events.loc[keep, ["account_id", "user_id", "event_name", "event_at"]].reset_index(drop=True)
    track["event_date"] = track["event_at"].dt.normalize()
    return track


# ---------------------------------------------------------------------------------------------
# Shared inputs


def read_inputs(landing: Path) -> dict[str, pd.DataFrame]:
    """Read every landing entity the three marts depend on."""
    inputs = {}
    subscription_events, children = read_entity(landing, BILLING_SUBSCRIPTION_EVENTS, with_children=True)
    subscription_events["currency"] = subscription_events["currency"].str.lower()
    subscription_events["cancel_at_period_end"] = subscription_events["cancel_at_period_end"].fillna(False).astype(bool)
    inputs["subscription_events"] = subscription_events
    inputs["subscription_event_items"] = children["billing_subscription_event_items"]

    prices = read_entity(landing, BILLING_PRICES)[0]
    prices["interval_count"] = prices["interval_count"].fillna(1)
    inputs["prices"] = prices
    inputs["customers"] = read_entity(landing, BILLING_CUSTOMERS)[0]
    fx_rates = read_entity(landing, BILLING_FX_RATES)[0]
    fx_rates["currency"] = fx_rates["currency"].str.lower()
    inputs["fx_rates"] = fx_rates[fx_rates["quote_currency"].str.lower() == REPORTING_CURRENCY]
    inputs["invoices"] = read_entity(landing, BILLING_INVOICES)[0]

    for name, entity in (
        ("accounts", CRM_ACCOUNTS),
        ("contacts", CRM_CONTACTS),
        ("tickets", CRM_TICKETS),
        ("nps_responses", CRM_NPS_RESPONSES),
        ("cs_activities", CRM_CS_ACTIVITIES),
        ("features", CATALOG_FEATURES),
    ):
        inputs[name] = read_entity(landing, entity)[0]
    inputs["events"] = read_track_events(landing)
    return inputs


def find_as_of(inputs: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """Return the data's as-of instant: the latest record of any dated source, never the wall clock."""
    latest = [
        inputs["events"]["event_at"].max(),
        inputs["invoices"]["created_at"].max(),
        inputs["subscription_events"]["event_created_at"].max(),
        inputs["tickets"]["created_at"].max(),
        inputs["nps_responses"]["answered_at"].max(),
        inputs["cs_activities"]["occurred_at"].max(),
    ]
    latest = [value for value in latest if pd.notna(value)]
    if not latest:
        raise CswError("the landing files hold no dated record, so there is no as-of date")
    return max(latest)


def _day(values: pd.Series) -> pd.Series:
    return values.dt.normalize()


def _week_start(days: pd.Series) -> pd.Series:
    """Return the Monday of each day's week."""
    return days - pd.to_timedelta(days.dt.day_of_week, unit="D")


def _month_start(values: pd.Series) -> pd.Series:
    return _day(values) - pd.to_timedelta(values.dt.day - 1, unit="D")


def _add_months(values: pd.Series, months: pd.Series) -> pd.Series:
    """Add whole months per row, clamping the day to the month's end and keeping the time of day."""
    known = values.notna() & months.notna()
    result = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP_UNIT)
    if not known.any():
        return result
    start = values[known]
    month_index = start.dt.year * 12 + start.dt.month - 1 + months[known].astype("int64")
    first_of_month = pd.to_datetime(pd.DataFrame({"year": month_index // 12, "month": month_index % 12 + 1, "day": 1}))
    day = np.minimum(start.dt.day, first_of_month.dt.days_in_month)
    time_of_day = start - start.dt.normalize()
    result[known] = (first_of_month + pd.to_timedelta(day - 1, unit="D") + time_of_day).astype(TIMESTAMP_UNIT)
    return result


def _exact_product(values: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Return values x factor rounded to float64 and the rounding error, exactly (Dekker's two-product)."""

    def split(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scaled = 134217729.0 * v  # 2**27 + 1
        high = scaled - (scaled - v)
        return high, v - high

    product = values * factor
    value_high, value_low = split(values)
    factor_high, factor_low = split(np.full_like(values, factor))
    error = (value_high * factor_high - product) + value_high * factor_low + value_low * factor_high
    error = error + value_low * factor_low
    return product, error


def _round_half_away(values: pd.Series | np.ndarray, decimals: int) -> np.ndarray:
    """Round the exact binary value half away from zero, as DuckDB's round() on DOUBLE does.

    Scaling by 10**decimals in floating point can itself round up to a tie (66.425 x 100 gives
    6642.5 though 66.425 is stored as 66.42499...), so the product's rounding error decides ties.
    """
    numbers = np.asarray(values, dtype="float64")
    product, error = _exact_product(np.abs(numbers), 10.0**decimals)
    whole = np.floor(product)
    fraction = product - whole
    round_up = (fraction > 0.5) | ((fraction == 0.5) & (error >= 0))
    return np.sign(numbers) * np.where(round_up, whole + 1, whole) / 10.0**decimals


def _expand_ranges(frame: pd.DataFrame, start: np.ndarray, stop: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Repeat each row once per integer in [start, stop); return the rows and those integers."""
    counts = np.maximum(stop - start, 0)
    rows = frame.loc[frame.index.repeat(counts)].reset_index(drop=True)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(start, counts) + offsets


# ---------------------------------------------------------------------------------------------
# account_mrr_monthly


def revenue_months(subscription_events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Return the months from the first subscription event to the as-of month, with each month's measuring instant."""
    first_month = _month_start(pd.Series([subscription_events["event_created_at"].min()])).iloc[0]
    as_of_month = _month_start(pd.Series([as_of])).iloc[0]
    starts = pd.Series(pd.date_range(first_month, as_of_month, freq="MS")).astype(TIMESTAMP_UNIT)
    next_starts = _add_months(starts, pd.Series(1, index=starts.index))
    months = pd.DataFrame({"month_start_date": starts, "month_end_date": next_starts - ONE_DAY})
    months["is_as_of_month"] = months["month_start_date"] == as_of_month
    months["measured_at"] = (next_starts - pd.Timedelta(seconds=1)).where(~months["is_as_of_month"], as_of)
    return months


def subscription_versions(inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Turn each subscription event into a version valid until the next one.

    A canceled version starts when access ended (ended_at), not when the cancellation was requested.
    """
    events = inputs["subscription_events"].merge(
        inputs["customers"][["customer_id", "account_id"]], on="customer_id", how="left"
    )
    canceled = (events["status"] == "canceled") & events["ended_at"].notna()
    events["valid_from"] = events["ended_at"].where(canceled, events["event_created_at"])
    events["access_ends"] = (
        events["ended_at"]
        .fillna(events["cancel_at"])
        .fillna(events["current_period_end_at"].where(events["cancel_at_period_end"]))
    )
    events["is_cancellation_scheduled"] = events["cancel_at"].notna() | events["cancel_at_period_end"]
    events = events.sort_values(["subscription_id", "valid_from", "event_created_at", "event_id"])
    events["valid_to"] = events.groupby("subscription_id")["valid_from"].shift(-1)
    return events.reset_index(drop=True)


def version_amounts(inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Sum each version's items normalized to one month (in minor units), and its largest months factor.

    The factor is how many billing intervals fall in a month (year: 1/12, week: 52/12, day: 365/12),
    divided by the interval count. One-off prices have no interval, so they add nothing.
    """
    items = inputs["subscription_event_items"].merge(inputs["prices"], on="price_id", how="left")
    interval = items["interval"]
    numerator = interval.map({"month": 1, "year": 1, "week": 52, "day": 365}).fillna(0).astype("int64")
    interval_count = items["interval_count"].astype("float64")
    denominator = interval_count.where(interval == "month", 12 * interval_count)
    items["months_factor"] = numerator / denominator
    # The integer product first and one division last, so that 1200 x 52 / 12 is exactly 5200.
    product = items["unit_amount"].astype("float64") * items["quantity"].astype("float64") * numerator
    items["monthly_amount_minor"] = product / denominator
    return items.groupby("event_id", as_index=False).agg(
        gross_monthly_minor=("monthly_amount_minor", "sum"),
        months_factor=("months_factor", "max"),
    )


def monthly_fx_rates(months: pd.DataFrame, currencies: pd.Series, fx_rates: pd.DataFrame) -> pd.DataFrame:
    """Return each currency's rate into the reporting currency on each month's last day, or the latest earlier rate."""
    grid = months[["month_start_date", "month_end_date"]].merge(
        pd.DataFrame({"currency": currencies.dropna().unique()}), how="cross"
    )
    grid = grid.sort_values("month_end_date")
    rates = fx_rates[["rate_date", "currency", "rate"]].sort_values("rate_date")
    grid = pd.merge_asof(grid, rates, left_on="month_end_date", right_on="rate_date", by="currency")
    grid["fx_rate"] = grid["rate"].where(grid["currency"] != REPORTING_CURRENCY, 1.0)
    return grid[["month_start_date", "currency", "fx_rate"]]


def subscription_mrr_monthly(inputs: dict[str, pd.DataFrame], months: pd.DataFrame) -> pd.DataFrame:
    """Return the MRR in cents of each subscription version in effect at each month's measuring instant."""
    versions = subscription_versions(inputs)
    measured = months["measured_at"].to_numpy()
    start = np.searchsorted(measured, versions["valid_from"].to_numpy(), side="left")
    stop = np.searchsorted(measured, versions["valid_to"].to_numpy(), side="left")
    stop = np.where(versions["valid_to"].isna(), len(measured), stop)
    rows, month_index = _expand_ranges(versions, start, stop)
    rows["month_start_date"] = months["month_start_date"].to_numpy()[month_index]
    rows["measured_at"] = measured[month_index]
    rows = rows.merge(version_amounts(inputs), on="event_id", how="left")

    at = rows["measured_at"]
    rows["is_counted"] = rows["status"].isin(MRR_STATUSES) & (rows["access_ends"].isna() | (rows["access_ends"] > at))
    rows["is_discount_applied"] = _discount_applied(rows)
    gross = rows["gross_monthly_minor"].fillna(0.0)
    discount = np.select(
        [~rows["is_discount_applied"], rows["discount_percent_off"].notna(), rows["discount_amount_off"].notna()],
        [0.0, gross * rows["discount_percent_off"].astype("float64") / 100,
         rows["discount_amount_off"].astype("float64") * rows["months_factor"].fillna(0.0)],
        default=0.0,
    )
    net = np.where(~rows["is_counted"] | (discount >= gross), 0.0, gross - discount)

    fx = monthly_fx_rates(months, versions["currency"], inputs["fx_rates"])
    rows = rows.merge(fx, on=["month_start_date", "currency"], how="left")
    missing_rate = (net > 0) & rows["fx_rate"].isna().to_numpy()
    if missing_rate.any():
        first = rows[missing_rate].iloc[0]
        raise CswError(
            f"no FX rate from {first['currency']} into {REPORTING_CURRENCY} on or before "
            f"{first['month_start_date']:%Y-%m} month end (subscription {first['subscription_id']}); "
            "add the rate to billing/fx_rates.jsonl"
        )
    # Cents per minor unit times the rate: 1 for two-decimal currencies, 100 for zero-decimal ones.
    # NOTE: dbt rounds the amount and the rate to 8 decimals and multiplies them exactly, so this float
    # product can round to another cent when it lies within about 1e-8 of a half cent.
    cents_per_minor = np.where(rows["currency"].isin(ZERO_DECIMAL_CURRENCIES), 100.0, 1.0)
    cents = _round_half_away(net * rows["fx_rate"].fillna(0.0).to_numpy() * cents_per_minor, 0)
    rows["mrr_cents"] = np.where(net == 0, 0, cents).astype("int64")
    rows["is_churn_scheduled"] = rows["is_counted"] & rows["is_cancellation_scheduled"]
    return rows


def _discount_applied(rows: pd.DataFrame) -> pd.Series:
    """Return whether each version's discount lowers MRR at the measuring instant.

    Forever discounts always do, repeating ones while they last, and once ones never do.

    Follows SQL's three-valued logic of the dbt model: a repeating discount whose window is unknown
    (no start, or no end and no duration) counts as applied.
    """
    at = rows["measured_at"]
    starts = rows["discount_start_at"]
    duration = rows["discount_duration"]
    forever = starts.isna() | (starts <= at)
    ends = rows["discount_end_at"].fillna(_add_months(starts, rows["discount_duration_in_months"]))
    started = (starts <= at).where(starts.notna())
    before_end = (at < ends).where(ends.notna())
    repeating = ~((started == False) | (before_end == False))  # noqa: E712 (NaN is unknown, not False)
    return pd.Series(
        np.select([duration == "forever", duration == "repeating"], [forever, repeating], default=False),
        index=rows.index,
    ).astype(bool)


def account_mrr_monthly(inputs: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """Build account_mrr_monthly: one row per account per month from its first month with MRR to the as-of month."""
    months = revenue_months(inputs["subscription_events"], as_of)
    subscriptions = subscription_mrr_monthly(inputs, months)
    subscriptions["scheduled_cents"] = subscriptions["mrr_cents"].where(subscriptions["is_churn_scheduled"], 0)
    account_months = subscriptions.groupby(["account_id", "month_start_date"], as_index=False).agg(
        mrr_cents=("mrr_cents", "sum"),
        scheduled_cents=("scheduled_cents", "sum"),
        counted_subscriptions=("is_counted", "sum"),
    )

    first_months = (
        account_months[account_months["mrr_cents"] > 0]
        .groupby("account_id", as_index=False)["month_start_date"].min()
        .rename(columns={"month_start_date": "first_mrr_month_start_date"})
    )
    mart = first_months.merge(months, how="cross")
    mart = mart[mart["month_start_date"] >= mart["first_mrr_month_start_date"]]
    mart = mart.merge(account_months, on=["account_id", "month_start_date"], how="left")
    mart = mart.sort_values(["account_id", "month_start_date"]).reset_index(drop=True)
    for column in ("mrr_cents", "scheduled_cents", "counted_subscriptions"):
        mart[column] = mart[column].fillna(0).astype("int64")

    previous = mart.groupby("account_id")["mrr_cents"].shift(1)
    mrr = mart["mrr_cents"]
    mart["movement_type"] = np.select(
        [
            previous.isna(),
            (previous == 0) & (mrr > 0),
            (previous > 0) & (mrr == 0),
            (previous == 0) & (mrr == 0),
            mrr > previous,
            mrr < previous,
        ],
        ["new", "reactivation", "churn", "inactive", "expansion", "contraction"],
        default="unchanged",
    )
    previous = previous.fillna(0).astype("int64")
    start, current = mart["first_mrr_month_start_date"], mart["month_start_date"]
    return pd.DataFrame(
        {
            "account_id": mart["account_id"],
            "month_start_date": current,
            "month_end_date": mart["month_end_date"],
            "is_as_of_month": mart["is_as_of_month"],
            "first_mrr_month_start_date": start,
            "months_since_first_mrr": (current.dt.year - start.dt.year) * 12 + current.dt.month - start.dt.month,
            "mrr": mrr / 100,
            "previous_mrr": previous / 100,
            "movement_type": mart["movement_type"],
            "movement_amount": (mrr - previous) / 100,
            "has_scheduled_churn": mart["scheduled_cents"] > 0,
            "scheduled_churn_mrr": mart["scheduled_cents"] / 100,
            "counted_subscriptions": mart["counted_subscriptions"],
            "reporting_currency": REPORTING_CURRENCY,
        }
    )


# ---------------------------------------------------------------------------------------------
# Account day spine and daily inputs


def subscription_states(inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Return each subscription's states by day: from its event's day to the next event's day, with its seats."""
    seats = inputs["subscription_event_items"].groupby("event_id", as_index=False)["quantity"].sum()
    states = inputs["subscription_events"].merge(inputs["customers"][["customer_id", "account_id"]], on="customer_id")
    states = states.merge(seats.rename(columns={"quantity": "seat_count"}), on="event_id", how="left")
    states["seat_count"] = states["seat_count"].fillna(0).astype("int64")
    states = states.sort_values(["subscription_id", "event_created_at", "event_id"])
    states["valid_from_date"] = _day(states["event_created_at"])
    states["valid_to_date"] = _day(states.groupby("subscription_id")["event_created_at"].shift(-1))
    return states[["account_id", "subscription_id", "status", "seat_count", "valid_from_date", "valid_to_date"]]


def account_day_spine(inputs: dict[str, pd.DataFrame], states: pd.DataFrame, as_of_date: pd.Timestamp) -> pd.DataFrame:
    """Return every day from each CRM account's first trace to the as-of date.

    The first trace is the earliest of the account's creation, first event and first subscription change.
    """
    accounts = inputs["accounts"]
    traces = pd.concat(
        [
            pd.DataFrame({"account_id": accounts["account_id"], "trace_date": _day(accounts["created_at"])}),
            inputs["events"].groupby("account_id", as_index=False)["event_date"].min()
            .rename(columns={"event_date": "trace_date"}),
            states.groupby("account_id", as_index=False)["valid_from_date"].min()
            .rename(columns={"valid_from_date": "trace_date"}),
        ]
    )
    traces = traces[traces["account_id"].isin(accounts["account_id"])]
    first_days = traces.groupby("account_id", as_index=False)["trace_date"].min()
    first = first_days["trace_date"].to_numpy().astype("datetime64[D]").astype("int64")
    last = np.datetime64(as_of_date.date(), "D").astype("int64")
    spine, day_number = _expand_ranges(first_days[["account_id"]], first, np.full(len(first), last + 1))
    spine["date_day"] = day_number.astype("datetime64[D]").astype(TIMESTAMP_UNIT)
    return spine.sort_values(["account_id", "date_day"], ignore_index=True)


def _join_daily(spine: pd.DataFrame, daily: pd.DataFrame, columns: dict[str, object]) -> pd.DataFrame:
    """Left-join per-day values onto the spine, filling days without a value."""
    joined = spine[["account_id", "date_day"]].merge(daily, on=["account_id", "date_day"], how="left")
    return joined[list(columns)].fillna(columns)


def trailing_sum(spine: pd.DataFrame, column: str, days: int, offset_days: int = 0) -> pd.Series:
    """Sum `column` over the `days` days ending `offset_days` before each day, on the gap-free spine."""
    sums = spine.groupby("account_id", sort=False)[column].rolling(days, min_periods=1).sum()
    sums = sums.reset_index(level=0, drop=True).sort_index()
    if offset_days:
        sums = sums.groupby(spine["account_id"], sort=False).shift(offset_days)
    return sums


def trailing_distinct_count(spine: pd.DataFrame, sightings: pd.DataFrame, key: str, days: int) -> pd.Series:
    """Count the distinct keys seen in the `days` days ending on each spine day.

    Each sighting opens a span to `days` days later or to the key's next sighting, whichever is
    first, so spans of one key never overlap, and the running sum of +1/-1 changes is the count.
    """
    seen = sightings[["account_id", key, "event_date"]].drop_duplicates().sort_values(["account_id", key, "event_date"])
    next_seen = seen.groupby(["account_id", key], sort=False)["event_date"].shift(-1)
    window_end = seen["event_date"] + pd.Timedelta(days=days)
    span_end = next_seen.where(next_seen < window_end, window_end)
    changes = pd.concat(
        [
            pd.DataFrame({"account_id": seen["account_id"], "date_day": seen["event_date"], "change": 1}),
            pd.DataFrame({"account_id": seen["account_id"], "date_day": span_end, "change": -1}),
        ]
    )
    daily = changes.groupby(["account_id", "date_day"], as_index=False)["change"].sum()
    return _join_daily(spine, daily, {"change": 0})["change"].groupby(spine["account_id"], sort=False).cumsum()


def usage_daily(spine: pd.DataFrame, events: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Add each day's product usage and its trailing windows to the spine."""
    daily = events.groupby(["account_id", "event_date"], as_index=False).agg(
        event_count=("user_id", "size"), active_user_count=("user_id", "nunique")
    )
    daily = daily.rename(columns={"event_date": "date_day"})

    # A session starts at a user's first event or after a gap of more than 30 minutes, counted in
    # whole-minute boundaries as DuckDB's date_diff('minute') does.
    ordered = events.sort_values(["account_id", "user_id", "event_at"])
    minute = ordered["event_at"].dt.floor("min")
    previous_minute = minute.groupby([ordered["account_id"], ordered["user_id"]], sort=False).shift(1)
    gap_minutes = (minute - previous_minute) / pd.Timedelta(minutes=1)
    starts = ordered[previous_minute.isna() | (gap_minutes > SESSION_GAP_MINUTES)]
    sessions = starts.groupby(["account_id", "event_date"], as_index=False).size()
    sessions = sessions.rename(columns={"event_date": "date_day", "size": "session_count"})

    usage = spine.copy()
    usage[["event_count", "active_user_count"]] = _join_daily(spine, daily, {"event_count": 0, "active_user_count": 0})
    usage["session_count"] = _join_daily(spine, sessions, {"session_count": 0})["session_count"]
    usage["is_active_day"] = (usage["event_count"] > 0).astype("int64")

    usage["active_days_30d"] = trailing_sum(usage, "is_active_day", 30)
    usage["average_daily_users_28d"] = trailing_sum(usage, "active_user_count", 28) / 28.0
    usage["event_count_30d"] = trailing_sum(usage, "event_count", 30)
    usage["session_count_30d"] = trailing_sum(usage, "session_count", 30)
    usage["active_weeks_4w"] = sum(
        (trailing_sum(usage, "is_active_day", 7, offset_days=offset) > 0).astype("int64") for offset in (0, 7, 14, 21)
    )
    usage["active_users_28d"] = trailing_distinct_count(usage, events, "user_id", 28)
    usage["active_users_30d"] = trailing_distinct_count(usage, events, "user_id", 30)

    catalog = features[features["is_feature"]].assign(feature_name=lambda f: f["feature_name"].fillna(f["event_name"]))
    feature_events = events.merge(catalog[["event_name", "feature_name"]], on="event_name")
    usage["features_used_30d"] = trailing_distinct_count(usage, feature_events, "feature_name", 30)
    usage["features_available"] = catalog["feature_name"].nunique()
    first_event_date = events["event_date"].min()
    usage["has_product_data"] = (usage["date_day"] >= first_event_date) if pd.notna(first_event_date) else False
    return usage


def crm_daily(spine: pd.DataFrame, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Return the spine's trailing support, survey, CSM-touch and champion signals that the health score reads."""
    tickets = inputs["tickets"].assign(date_day=lambda t: _day(t["created_at"]))
    daily_tickets = tickets.groupby(["account_id", "date_day"], as_index=False).size()
    daily_tickets = daily_tickets.rename(columns={"size": "ticket_count"})
    # A CSAT rating counts from the day its ticket was resolved, when the customer gave it.
    rated = inputs["tickets"].dropna(subset=["csat", "resolved_at"]).assign(date_day=lambda t: _day(t["resolved_at"]))
    daily_csat = rated.groupby(["account_id", "date_day"], as_index=False).agg(
        csat_score_sum=("csat", "sum"), csat_rating_count=("csat", "size")
    )
    nps = inputs["nps_responses"].assign(
        date_day=lambda n: _day(n["answered_at"]), nps_score=lambda n: n["score"].astype("float64")
    )
    daily_nps = nps.groupby(["account_id", "date_day"], as_index=False)["nps_score"].mean()
    activities = inputs["cs_activities"].assign(
        date_day=lambda a: _day(a["occurred_at"]), touch_count=lambda a: (a["activity_type"] != "note").astype("int64")
    )
    daily_touches = activities.groupby(["account_id", "date_day"], as_index=False)["touch_count"].sum()

    crm = spine.copy()
    crm["ticket_count"] = _join_daily(spine, daily_tickets, {"ticket_count": 0})["ticket_count"]
    crm[["csat_score_sum", "csat_rating_count"]] = _join_daily(
        spine, daily_csat, {"csat_score_sum": 0, "csat_rating_count": 0}
    ).astype("int64")
    crm["touch_count"] = _join_daily(spine, daily_touches, {"touch_count": 0})["touch_count"]
    crm["champion_change"] = _join_daily(spine, champion_changes(spine, inputs["contacts"]), {"champion_change": 0})[
        "champion_change"
    ]
    nps_on_day = _join_daily(spine, daily_nps, {"nps_score": np.nan})["nps_score"]

    crm["ticket_count_30d"] = trailing_sum(crm, "ticket_count", 30)
    csat_sum, csat_count = trailing_sum(crm, "csat_score_sum", 90), trailing_sum(crm, "csat_rating_count", 90)
    crm["csat_average_90d"] = (csat_sum / csat_count).where(csat_count > 0)
    crm["touch_count_90d"] = trailing_sum(crm, "touch_count", 90)
    crm["champion_count"] = crm.groupby("account_id", sort=False)["champion_change"].cumsum()
    # The latest NPS day so far and the mean score of the responses on that day.
    crm["latest_nps_date"] = crm["date_day"].where(nps_on_day.notna()).groupby(crm["account_id"], sort=False).ffill()
    crm["latest_nps_score"] = nps_on_day.groupby(crm["account_id"], sort=False).ffill()
    return crm


def champion_changes(spine: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """Return +1 on the day a champion was added and -1 on the day they left.

    A day before the spine's first day, or an unknown day added, moves to the spine's first day.
    """
    first_days = spine.groupby("account_id", as_index=False)["date_day"].min()
    first_days = first_days.rename(columns={"date_day": "first_date"})
    champions = contacts[contacts["is_champion"].fillna(False).astype(bool)].merge(first_days, on="account_id")
    added = _day(champions["created_at"])
    added = added.where(added.notna() & (added >= champions["first_date"]), champions["first_date"])
    left = _day(champions["left_at"])
    left = left.where(left >= champions["first_date"], champions["first_date"]).where(left.notna())
    changes = pd.concat(
        [
            pd.DataFrame({"account_id": champions["account_id"], "date_day": added, "champion_change": 1}),
            pd.DataFrame({"account_id": champions["account_id"], "date_day": left, "champion_change": -1}).dropna(),
        ]
    )
    return changes.groupby(["account_id", "date_day"], as_index=False)["champion_change"].sum()


def billing_daily(spine: pd.DataFrame, states: pd.DataFrame, as_of_date: pd.Timestamp) -> pd.DataFrame:
    """Return whether each account pays on each spine day (an active or past_due subscription) and its seats."""
    paying = states[
        states["status"].isin(PAYING_STATUSES)
        & (states["valid_to_date"].isna() | (states["valid_to_date"] > states["valid_from_date"]))
    ]
    first = paying["valid_from_date"].to_numpy().astype("datetime64[D]").astype("int64")
    stop = paying["valid_to_date"].fillna(as_of_date + ONE_DAY).to_numpy().astype("datetime64[D]").astype("int64")
    stop = np.minimum(stop, np.datetime64(as_of_date.date(), "D").astype("int64") + 1)
    days, day_number = _expand_ranges(paying.reset_index(drop=True), first, stop)
    days["date_day"] = day_number.astype("datetime64[D]").astype(TIMESTAMP_UNIT)
    daily = days.groupby(["account_id", "date_day"], as_index=False).agg(
        paying_subscription_count=("subscription_id", "nunique"), seat_count=("seat_count", "sum")
    )
    billing = _join_daily(spine, daily, {"paying_subscription_count": 0, "seat_count": 0})
    return pd.DataFrame(
        {"is_paying": billing["paying_subscription_count"] > 0, "seat_count": billing["seat_count"].astype("int64")}
    )


def account_daily(inputs: dict[str, pd.DataFrame], as_of_date: pd.Timestamp, mrr: pd.DataFrame) -> pd.DataFrame:
    """Return one row per account per spine day with every input of the engagement and health marts."""
    states = subscription_states(inputs)
    spine = account_day_spine(inputs, states, as_of_date)
    daily = usage_daily(spine, inputs["events"], inputs["features"])
    crm = crm_daily(spine, inputs)
    crm_columns = ("ticket_count_30d", "csat_average_90d", "touch_count_90d", "champion_count", "latest_nps_date",
                   "latest_nps_score")
    for column in crm_columns:
        daily[column] = crm[column]
    billing = billing_daily(spine, states, as_of_date)
    daily["is_paying"] = billing["is_paying"]
    daily["seat_count"] = billing["seat_count"]
    daily["seat_count_90d_earlier"] = daily.groupby("account_id", sort=False)["seat_count"].shift(90)

    # Growth compares the last completed month's MRR with the MRR three months before it.
    last_month = _add_months(_month_start(daily["date_day"]), pd.Series(-1, index=daily.index))
    mrr_cents = mrr[["account_id", "month_start_date"]].assign(mrr_cents=np.rint(mrr["mrr"] * 100).astype("int64"))
    three_months_earlier = _add_months(last_month, pd.Series(-3, index=daily.index))
    months = {"mrr_last_month_cents": last_month, "mrr_three_months_earlier_cents": three_months_earlier}
    for column, month in months.items():
        keys = pd.DataFrame({"account_id": daily["account_id"], "month_start_date": month})
        daily[column] = keys.merge(mrr_cents, on=["account_id", "month_start_date"], how="left")["mrr_cents"].to_numpy()
    return daily


# ---------------------------------------------------------------------------------------------
# account_engagement_weekly


def account_engagement_weekly(daily: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Build account_engagement_weekly: one row per account per Monday-to-Sunday week from its first active week."""
    days = daily[["account_id", "date_day", "active_user_count", "active_users_28d"]].assign(
        week_start_date=lambda d: _week_start(d["date_day"])
    )
    weekly = days.groupby(["account_id", "week_start_date"], as_index=False).agg(
        days_in_week=("date_day", "size"),
        user_days=("active_user_count", "sum"),
        monthly_active_users=("active_users_28d", "last"),
    )
    weekly["daily_active_users"] = weekly["user_days"].astype("float64") / weekly["days_in_week"]
    weekly_users = (
        events.assign(week_start_date=lambda e: _week_start(e["event_date"]))
        .groupby(["account_id", "week_start_date"], as_index=False)["user_id"].nunique()
        .rename(columns={"user_id": "weekly_active_users"})
    )
    weekly = weekly.merge(weekly_users, on=["account_id", "week_start_date"], how="left")
    weekly["weekly_active_users"] = weekly["weekly_active_users"].fillna(0).astype("int64")
    weekly = weekly.sort_values(["account_id", "week_start_date"], ignore_index=True)

    active_weeks = weekly["week_start_date"].where(weekly["weekly_active_users"] > 0)
    first_active_week = active_weeks.groupby(weekly["account_id"]).transform("min")
    previous_users = weekly.groupby("account_id")["weekly_active_users"].shift(1)
    active = weekly["weekly_active_users"] > 0
    weekly["lifecycle_stage"] = np.select(
        [weekly["week_start_date"] == first_active_week, active & (previous_users > 0), active],
        ["new", "returning", "resurrecting"],
        default="dormant",
    )
    mau = weekly["monthly_active_users"].astype("int64")
    weekly["stickiness"] = (weekly["daily_active_users"] / mau).where(mau > 0)
    weekly = weekly[weekly["week_start_date"] >= first_active_week]
    return pd.DataFrame(
        {
            "account_id": weekly["account_id"],
            "week_start_date": weekly["week_start_date"],
            "days_in_week": weekly["days_in_week"].astype("int64"),
            "daily_active_users": weekly["daily_active_users"],
            "weekly_active_users": weekly["weekly_active_users"],
            "monthly_active_users": mau[weekly.index],
            "stickiness": weekly["stickiness"],
            "lifecycle_stage": weekly["lifecycle_stage"],
        }
    ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# account_health_daily


def _clamp(values: pd.Series) -> pd.Series:
    return values.clip(lower=0.0, upper=1.0)


def _component_score(inputs: Sequence[pd.Series]) -> pd.Series:
    """Return 100 x the mean of the present inputs (each 0-1), NaN when none is present."""
    total = inputs[0].fillna(0.0)
    for ratio in inputs[1:]:
        total = total + ratio.fillna(0.0)
    present = sum(ratio.notna().astype("int64") for ratio in inputs)
    return (100.0 * total / present).where(present > 0)


def health_components(daily: pd.DataFrame) -> dict[str, pd.Series]:
    """Return the five 0-100 health components of each account day, NaN where a component has no data."""
    product = daily["has_product_data"]
    seats = daily["seat_count"].astype("float64")
    users_28d = daily["active_users_28d"].astype("float64")
    sessions = daily["session_count_30d"].astype("float64")

    active_days = (daily["active_days_30d"] / 30.0).where(product)
    available = daily["features_available"]
    features_used = (daily["features_used_30d"] / available).where(product & (available > 0))
    actions = _clamp(daily["event_count_30d"] / (10.0 * sessions)).where(sessions > 0, 0.0).where(product)
    active_weeks = (daily["active_weeks_4w"] / 4.0).where(product)

    stickiness = _clamp(daily["average_daily_users_28d"] / (0.5 * users_28d)).where(users_28d > 0, 0.0).where(product)
    seat_activity = _clamp(daily["active_users_30d"] / seats).where(product & (seats > 0))

    csat = (daily["csat_average_90d"] - 1) / 4.0
    nps_age_days = (daily["date_day"] - daily["latest_nps_date"]).dt.days
    nps = (daily["latest_nps_score"] / 10.0).where(nps_age_days < 365)
    ticket_load = 1 - _clamp(daily["ticket_count_30d"] / 10.0)
    satisfaction = _component_score([csat, nps, ticket_load]).where(csat.notna() | nps.notna())

    # Growth inputs map a change to 0.5 + 2.5 x change: flat 0.5, +20 % or more 1, -20 % or less 0.
    # MRR is in cents, so 2.5 x the change is an exact number of thousandths as in the DECIMAL arithmetic.
    earlier_cents = daily["mrr_three_months_earlier_cents"]
    change_thousandths = 25 * (daily["mrr_last_month_cents"].fillna(0) - earlier_cents)
    mrr_change = _clamp(0.5 + (change_thousandths / 1000) / (earlier_cents / 100)).where(earlier_cents > 0)
    earlier_seats = daily["seat_count_90d_earlier"]
    seat_change = _clamp(0.5 + 2.5 * (seats - earlier_seats) / earlier_seats).where(earlier_seats > 0)

    touches = _clamp(daily["touch_count_90d"] / 3.0)
    champion = (daily["champion_count"] > 0).astype("float64")
    return {
        "usage": _component_score([active_days, features_used, actions, active_weeks]),
        "engagement": _component_score([stickiness, seat_activity]),
        "satisfaction": satisfaction,
        "growth": _component_score([mrr_change, seat_change]),
        "relationship": 100.0 * (touches + champion) / 2,
    }


def _to_float32(values: pd.Series | np.ndarray) -> pd.Series:
    """Round to the dbt model's FLOAT (single precision) columns."""
    return pd.Series(np.asarray(values, dtype="float64")).astype("float32")


def account_health_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """Build account_health_daily: the weighted health score of each paying account on each day."""
    components = health_components(daily)
    coverage_hundredths = sum(
        components[name].notna().astype("int64") * HEALTH_WEIGHT_HUNDREDTHS[name] for name in HEALTH_COMPONENTS
    )
    coverage = coverage_hundredths / 100
    weighted = sum((HEALTH_WEIGHTS[name] * components[name]).fillna(0.0) for name in HEALTH_COMPONENTS)
    health = pd.DataFrame({"account_id": daily["account_id"], "date_day": daily["date_day"]})
    health["health_score"] = _to_float32(_round_half_away(weighted / coverage, 2))
    health["data_coverage"] = _to_float32(_round_half_away(_to_float32(coverage).astype("float64"), 6))
    for name in HEALTH_COMPONENTS:
        present = components[name].notna()
        health[f"{name}_score"] = _to_float32(_round_half_away(components[name], 2))
        weight = pd.Series(HEALTH_WEIGHTS[name] / coverage).where(present)
        health[f"{name}_weight"] = _to_float32(_round_half_away(weight, 6))

    earlier = health[["account_id", "date_day", "health_score"]].copy()
    earlier["date_day"] = earlier["date_day"] + pd.Timedelta(days=30)
    earlier_score = health[["account_id", "date_day"]].merge(earlier, on=["account_id", "date_day"], how="left")
    earlier_score = earlier_score["health_score"]
    # FLOAT minus FLOAT stays single precision before rounding.
    trend = (health["health_score"] - earlier_score.astype("float32")).astype("float64")
    health["health_trend_30d"] = _to_float32(_round_half_away(trend, 2))
    health["health_status"] = np.select(
        [health["health_score"] >= 70, health["health_score"] >= 40], ["healthy", "neutral"], default="at_risk"
    )
    health["is_usage_risk"] = (health["usage_score"] < 40).fillna(False).astype(bool)
    health["is_satisfaction_risk"] = (health["satisfaction_score"] < 50).fillna(False).astype(bool)
    health["is_growth_risk"] = (health["growth_score"] < 30).fillna(False).astype(bool)

    columns = ["account_id", "date_day", "health_score", "health_status", "health_trend_30d", "data_coverage"]
    for name in HEALTH_COMPONENTS:
        columns += [f"{name}_score", f"{name}_weight"]
    columns += ["is_usage_risk", "is_satisfaction_risk", "is_growth_risk"]
    return health.loc[daily["is_paying"].to_numpy(), columns].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Entry point


def compute_marts(landing: Path) -> dict[str, pd.DataFrame]:
    """Compute the three core marts from the landing folder."""
    if not landing.is_dir():
        raise CswError(f"landing folder {landing} not found; pass the folder that contains crm/, billing/ and events/")
    started = time.perf_counter()
    inputs = read_inputs(landing)
    seconds = time.perf_counter() - started
    LOGGER.info("read the landing files (%d track calls) in %.1f s", len(inputs["events"]), seconds)
    as_of = find_as_of(inputs)
    as_of_date = as_of.normalize()

    mrr = account_mrr_monthly(inputs, as_of)
    daily = account_daily(inputs, as_of_date, mrr)
    engagement = account_engagement_weekly(daily, inputs["events"])
    health = account_health_daily(daily)
    return {"account_mrr_monthly": mrr, "account_engagement_weekly": engagement, "account_health_daily": health}


def _with_date_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn the midnight timestamps of *_date and date_day columns into dates, as the dbt marts type them."""
    frame = frame.copy()
    for column in frame.columns:
        if column.endswith("_date") or column == "date_day":
            frame[column] = frame[column].dt.date
    return frame


def write_marts(marts: dict[str, pd.DataFrame], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in marts.items():
        _with_date_columns(frame).to_parquet(out_dir / MART_FILES[name], index=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--landing", type=Path, required=True, help="landing folder (crm/, billing/, events/, catalog/)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder the three Parquet files are written to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    started = time.perf_counter()
    try:
        marts = compute_marts(args.landing)
        write_marts(marts, args.out)
    except CswError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, frame in marts.items():
        print(f"{name}: {len(frame)} rows")
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
