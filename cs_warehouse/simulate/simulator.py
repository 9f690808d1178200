"""Write a whole simulated landing folder: CRM CSVs, Stripe-shaped billing files, Segment events, catalog."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cs_warehouse import contract
from cs_warehouse.errors import CswError
from cs_warehouse.simulate import behaviour as b
from cs_warehouse.simulate.accounts import AccountHistory, AccountSimulation
from cs_warehouse.simulate.calendar import DAY_SECONDS, Calendar
from cs_warehouse.simulate.catalog import EVENT_NAMES, catalog_rows, draw_adoption_days
from cs_warehouse.simulate.crm import build_csms, csv_row
from cs_warehouse.simulate.events import (
    Calls,
    EventGenerator,
    UsageInputs,
    UserDirectory,
    calls_to_json_lines,
    calls_to_table,
    concat_calls,
    sort_by_receipt,
)
from cs_warehouse.simulate.fx import fx_rate_rows
from cs_warehouse.simulate.plans import PriceBook, build_price_list
from cs_warehouse.simulate.writers import CsvWriter, JsonLinesWriter, write_gzip_text, write_parquet

log = logging.getLogger(__name__)

EVENTS_FORMATS = ("jsonl", "parquet")
# One events file per calendar month (events/2024-03.jsonl.gz) or per day received (events/2024-03-05.jsonl.gz).
EVENTS_FILES = ("monthly", "daily")
DAY_MS = DAY_SECONDS * 1000
MAX_ACCOUNTS = 1_000_000
MAX_MONTHS = 120
# Random streams: each account draws from its own, so adding accounts leaves earlier ones unchanged.
PROFILE_STREAM, HISTORY_STREAM, ADOPTION_STREAM = 0, 1, 6
# Calls rendered to text at a time; bounds the memory of rendering a month.
RENDER_SLICE_ROWS = 200_000


def _csv_columns(entity: contract.Entity) -> list[str]:
    return [column.source_path for column in entity.columns]


def _validate(accounts: int, months: int, events_format: str) -> None:
    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise CswError(f"invalid --accounts {accounts}: expected a whole number from 1 to {MAX_ACCOUNTS}")
    if not 1 <= months <= MAX_MONTHS:
        raise CswError(f"invalid --months {months}: expected a whole number from 1 to {MAX_MONTHS}")
    if events_format not in EVENTS_FORMATS:
        raise CswError(f"invalid events format {events_format!r}: expected one of {', '.join(EVENTS_FORMATS)}")


def simulate(out_dir: Path, accounts: int = 1000, months: int = 24, seed: int = 7,
             events_format: str = "jsonl", events_files: str = "monthly") -> None:
    """Write a simulated B2B SaaS landing folder; the same arguments always write the same bytes.

    Existing files the simulator writes are replaced, and event files of an earlier run in
    out_dir/events are removed so that a shorter run leaves no stale months behind. With
    events_files="daily" each day's events (by receivedAt, UTC) go to a file named by that day, which
    the daily event partitions load one day at a time.
    """
    _validate(accounts, months, events_format)
    if events_files not in EVENTS_FILES:
        raise CswError(f"invalid events files {events_files!r}: expected one of {', '.join(EVENTS_FILES)}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    folders = {name: out_dir / name for name in ("crm", "billing", "events", "catalog")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folders["events"].glob("*.jsonl.gz"), *folders["events"].glob("*.parquet")]:
        stale.unlink()

    calendar = Calendar(months)
    price_list = build_price_list()
    prices = PriceBook(price_list)
    _write_reference_files(folders, calendar, seed, price_list)

    csms = build_csms(b.csm_count(accounts))
    with CsvWriter(folders["crm"] / "csms.csv", _csv_columns(contract.CRM_CSMS)) as writer:
        for row in csms:
            writer.write(row)

    inputs = _simulate_accounts(folders, calendar, prices, accounts, seed, [c["csm_id"] for c in csms])
    log.info("simulated %d accounts over %d months in %.1f s", accounts, months, time.perf_counter() - started)

    event_count = _write_events(folders["events"], calendar, inputs, seed, events_format, events_files)
    log.info("wrote %d events and the landing files to %s in %.1f s", event_count, out_dir,
             time.perf_counter() - started)


def _write_reference_files(folders: dict[str, Path], calendar: Calendar, seed: int, price_list: list) -> None:
    with JsonLinesWriter(folders["billing"] / "prices.jsonl") as writer:
        for price in price_list:
            writer.write(price.to_stripe())
    with JsonLinesWriter(folders["billing"] / "fx_rates.jsonl") as writer:
        for row in fx_rate_rows(calendar, seed):
            writer.write(row)
    with CsvWriter(folders["catalog"] / "features.csv", _csv_columns(contract.CATALOG_FEATURES)) as writer:
        for row in catalog_rows():
            writer.write(row)


def _simulate_accounts(folders: dict[str, Path], calendar: Calendar, prices: PriceBook, accounts: int, seed: int,
                       csm_ids: list[str]) -> UsageInputs:
    """Simulate every account, stream its CRM and billing rows to disk and keep only its usage arrays."""
    crm, billing = folders["crm"], folders["billing"]
    inputs = UsageInputs(
        account_ids=[],
        account_traits=[],
        active_probability=np.zeros((accounts, calendar.days), dtype=np.float32),
        calls_per_session=np.zeros((accounts, calendar.months)),
        seats=np.zeros((accounts, calendar.months), dtype=np.int64),
        tiers=np.full((accounts, calendar.months), -1, dtype=np.int64),
        signup_day=np.zeros(accounts),
        adoption_day=np.zeros((accounts, len(EVENT_NAMES))),
    )
    csv_writers = {
        "accounts": CsvWriter(crm / "accounts.csv", _csv_columns(contract.CRM_ACCOUNTS)),
        "contacts": CsvWriter(crm / "contacts.csv", _csv_columns(contract.CRM_CONTACTS)),
        "tickets": CsvWriter(crm / "tickets.csv", _csv_columns(contract.CRM_TICKETS)),
        "nps_responses": CsvWriter(crm / "nps_responses.csv", _csv_columns(contract.CRM_NPS_RESPONSES)),
        "activities": CsvWriter(crm / "cs_activities.csv", _csv_columns(contract.CRM_CS_ACTIVITIES)),
    }
    json_writers = {
        name: JsonLinesWriter(billing / f"{name}.jsonl")
        for name in ("customers", "subscriptions", "subscription_events", "invoices", "credit_notes")
    }
    try:
        for index in range(accounts):
            profile = b.draw_profile(index, calendar, np.random.default_rng([seed, PROFILE_STREAM, index]), csm_ids)
            history = AccountSimulation(profile, calendar, prices,
                                        np.random.default_rng([seed, HISTORY_STREAM, index])).run()
            _write_account(history, csv_writers, json_writers)
            _store_usage(inputs, index, history, calendar, np.random.default_rng([seed, ADOPTION_STREAM, index]))
    finally:
        for writer in [*csv_writers.values(), *json_writers.values()]:
            writer.close()
    return inputs


def _write_account(history: AccountHistory, csv_writers: dict[str, CsvWriter],
                   json_writers: dict[str, JsonLinesWriter]) -> None:
    profile = history.profile
    ledger = history.ledger
    csv_writers["accounts"].write(csv_row({
        "account_id": profile.account_id,
        "name": profile.name,
        "industry": profile.industry,
        "employee_count": profile.employee_count,
        "country": profile.country,
        "owner_csm_id": profile.csm_id,
        "created_at": profile.signup_at,
    }))
    for name, rows in (("contacts", history.crm.contacts), ("tickets", history.crm.tickets),
                       ("nps_responses", history.crm.nps_responses), ("activities", history.crm.activities)):
        for row in sorted(rows, key=lambda r: (r.get("created_at") or r.get("answered_at") or r.get("occurred_at"))):
            csv_writers[name].write(csv_row(row))

    if ledger.customer is not None:
        json_writers["customers"].write(ledger.customer)
    for subscription in ledger.subscriptions:
        json_writers["subscriptions"].write(subscription.to_stripe())
    for event in sorted(ledger.subscription_events, key=lambda e: e["created"]):
        json_writers["subscription_events"].write(event)
    for invoice in ledger.invoices:
        json_writers["invoices"].write(invoice)
    for note in sorted(ledger.credit_notes, key=lambda n: n["created"]):
        json_writers["credit_notes"].write(note)


def _timeline_at(changes: list[tuple[int, float]], moments: np.ndarray, before: float) -> np.ndarray:
    """Value of a change-point timeline at each moment; `before` ahead of the first change."""
    if not changes:
        return np.full(len(moments), before)
    times = np.array([t for t, _ in changes])
    values = np.array([v for _, v in changes], dtype=float)
    position = np.searchsorted(times, moments, side="right") - 1
    return np.where(position >= 0, values[np.maximum(position, 0)], before)


def _store_usage(inputs: UsageInputs, index: int, history: AccountHistory, calendar: Calendar,
                 rng: np.random.Generator) -> None:
    """Turn one account's history into the daily and monthly arrays the event generator reads."""
    profile = history.profile
    inputs.account_ids.append(profile.account_id)
    traits = {"name": profile.name, "industry": profile.industry, "employees": profile.employee_count,
              "country": profile.country}
    inputs.account_traits.append(json.dumps(traits, separators=(",", ":"))[:-1])

    day_noon = calendar.start_epoch + np.arange(calendar.days) * DAY_SECONDS + DAY_SECONDS // 2
    usage = _timeline_at(history.usage_changes, day_noon, 0.0)
    health = history.health_by_month
    known = ~np.isnan(health)
    if known.any():
        firsts = calendar.month_first_days()
        midpoints = (firsts[:-1] + firsts[1:]) / 2
        daily_health = np.interp(np.arange(calendar.days), midpoints[known], health[known])
        inputs.active_probability[index] = (usage * b.daily_active_probability(daily_health)).astype(np.float32)
        inputs.calls_per_session[index] = np.where(known, b.feature_calls_per_session(np.nan_to_num(health)), 0)

    for month in range(calendar.months):
        start = calendar.month_start_epoch(month)
        end = calendar.month_start_epoch(month + 1)
        moments = np.array([start, *[t for t, _ in history.seat_changes if start <= t < end], end - 1])
        inputs.seats[index, month] = int(_timeline_at(history.seat_changes, moments, 0).max())
        inputs.tiers[index, month] = int(_timeline_at(history.tier_changes, moments, -1).max())
    inputs.signup_day[index] = (profile.signup_at - calendar.start_epoch) / DAY_SECONDS
    inputs.adoption_day[index] = draw_adoption_days(profile.health_mean, rng)


def _write_events(folder: Path, calendar: Calendar, inputs: UsageInputs, seed: int, events_format: str,
                  events_files: str = "monthly") -> int:
    """Generate and write events month by month; calls received after their month move to a later file."""
    generator = EventGenerator(calendar, inputs, seed)
    boundaries_ms = np.array([calendar.month_start_epoch(m) for m in range(calendar.months + 1)], dtype=np.int64) * 1000
    # One background thread renders and writes month m while month m + 1 is generated (Arrow compute,
    # zlib and the Parquet writer release the GIL). Waiting for the previous write first keeps at most
    # two months of calls in memory.
    writer = ThreadPoolExecutor(max_workers=1)
    pending: Future[int] | None = None
    carried: Calls | None = None
    written = 0
    for month in range(calendar.months):
        calls = generator.add_delivery_defects(generator.month_calls(month), month)
        if carried is not None:
            calls = concat_calls([carried, calls])
        received_month = np.searchsorted(boundaries_ms, calls.received_at, side="right") - 1
        now = sort_by_receipt(calls.take(np.nonzero(received_month == month)[0]))
        later = calls.take(np.nonzero((received_month > month) & (received_month < calendar.months))[0])
        carried = later if len(later) else None
        if pending is not None:
            written += pending.result()
        if events_files == "daily":
            pending = writer.submit(_write_days, folder, calendar.month_label(month),
                                    calendar.month_start_epoch(month) * 1000, now, generator.users, inputs, events_format)
        else:
            pending = writer.submit(_write_month, folder / calendar.month_label(month), now, generator.users, inputs,
                                    events_format)
    if pending is not None:
        written += pending.result()
    writer.shutdown()
    return written


def _write_days(folder: Path, month_label: str, month_start_ms: int, calls: Calls, users: UserDirectory,
               inputs: UsageInputs, events_format: str) -> int:
    """Write a month's calls, in file order, to one file per day received; return the row count."""
    day = (calls.received_at - month_start_ms) // DAY_MS
    written = 0
    for day_index in np.unique(day):
        rows = calls.take(np.nonzero(day == day_index)[0])
        written += _write_month(folder / f"{month_label}-{int(day_index) + 1:02d}", rows, users, inputs, events_format)
    return written


def _write_month(stem: Path, calls: Calls, users: UserDirectory, inputs: UsageInputs, events_format: str) -> int:
    """Render and write one month's calls, already in file order, a slice at a time; return the row count."""
    slices = [calls.take(np.arange(start, min(start + RENDER_SLICE_ROWS, len(calls))))
              for start in range(0, len(calls), RENDER_SLICE_ROWS)]
    if events_format == "jsonl":
        write_gzip_text(stem.with_name(stem.name + ".jsonl.gz"),
                        (calls_to_json_lines(part, users, inputs) for part in slices))
    else:
        write_parquet(stem.with_name(stem.name + ".parquet"), (calls_to_table(part, users, inputs) for part in slices),
                      empty=calls_to_table(calls.take(np.arange(0)), users, inputs).schema)
    return len(calls)
