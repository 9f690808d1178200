"""Benchmark sizes and their landing folders: simulate once, then split the last day's events off.

Each size's folder under the work folder contains:
- landing/: the simulated landing, without the events received on the data's last day;
- new_day/events/YYYY-MM-DD.<ext>: those events, copied into landing/events/ by the incremental step;
- landing.json: the simulator arguments, the split day and the event count. A later run reuses the
  landing when this file exists with the same arguments, because it is written last.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from cs_warehouse.errors import CswError

LOGGER = logging.getLogger(__name__)

SEED = 7
MONTHS = 12
# Events the simulator writes per account and month of history. Measured on
# `csw simulate --accounts 1000 --months 12 --seed 7 --events-format parquet`: 951,966 events, so
# 79.3 per account-month (300 accounts gave 74.4, so the figure varies by a few percent). The
# count grows with the months in a way that is not linear, because sign-ups spread over the
# history, so every size keeps the same 12 months and scales the accounts instead.
EVENTS_PER_ACCOUNT_MONTH = 79.3


@dataclass(frozen=True)
class SizeSpec:
    """Simulator arguments of one benchmark size."""

    name: str
    accounts: int
    months: int
    events_format: str
    seed: int = SEED


# accounts = target events / (EVENTS_PER_ACCOUNT_MONTH * MONTHS), rounded. Twelve months at every
# size gives the 10 M size a year of history, and each size ten times the accounts of the last.
SIZES = {
    "1m": SizeSpec("1m", accounts=1050, months=MONTHS, events_format="jsonl"),
    "10m": SizeSpec("10m", accounts=10500, months=MONTHS, events_format="parquet"),
    "100m": SizeSpec("100m", accounts=105000, months=MONTHS, events_format="parquet"),
}

EVENT_SUFFIXES = {"jsonl": ".jsonl.gz", "parquet": ".parquet"}
LANDING_METADATA = "landing.json"
# One JSON Lines event per CSV "row": a delimiter and no quote character that never occur in a JSON
# line (JSON escapes control characters), so DuckDB reads and writes each line unchanged.
JSONL_AS_LINES_OPTIONS = "header = false, delim = chr(1), quote = '', escape = '', auto_detect = false"
JSONL_RECEIVED_AT = "cast(json_extract_string(line, '$.receivedAt') as timestamptz)"


@dataclass(frozen=True)
class PreparedLanding:
    """A size's landing folder after simulation and the day split."""

    spec: SizeSpec
    landing: Path
    new_day_file: Path
    new_day: str
    new_day_events: int
    events: int
    simulate_seconds: float


# ---------------------------------------------------------------------------------------------
# Reading event files with DuckDB


def _connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    return connection


def _sql_string(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _event_rows_sql(path: Path, events_format: str) -> str:
    """Return SQL for the rows of one or more event files; JSON Lines rows are one `line` column."""
    if events_format == "parquet":
        return f"read_parquet({_sql_string(path)})"
    return f"read_csv({_sql_string(path)}, columns = {{'line': 'VARCHAR'}}, {JSONL_AS_LINES_OPTIONS})"


def _received_at_sql(events_format: str) -> str:
    return '"receivedAt"' if events_format == "parquet" else JSONL_RECEIVED_AT


def count_events(folder: Path, events_format: str) -> int:
    """Count the rows of every event file directly in folder (duplicates included)."""
    pattern = folder / f"*{EVENT_SUFFIXES[events_format]}"
    with _connect() as connection:
        return connection.execute(f"select count(*) from {_event_rows_sql(pattern, events_format)}").fetchone()[0]


# ---------------------------------------------------------------------------------------------
# Day split


def _copy_sql(source_sql: str, target: Path, events_format: str) -> str:
    if events_format == "parquet":
        return f"copy ({source_sql}) to {_sql_string(target)} (format parquet)"
    return (
        f"copy ({source_sql}) to {_sql_string(target)} "
        "(format csv, header false, delimiter chr(1), quote '', escape '', compression gzip)"
    )


def split_last_day(events_dir: Path, new_day_dir: Path, events_format: str) -> tuple[str, Path, int]:
    """Move the events received on the data's last day out of the last month's file into a file of their own.

    The last day is the UTC date of the latest receivedAt in the last month's file. Its events go
    to new_day_dir/YYYY-MM-DD.<ext>; the month file is rewritten with the other rows in their
    original order (Parquet with the same schema, JSON Lines with each line's bytes unchanged).
    Returns the day, the new file and its row count. Raises CswError when there is no event file.
    """
    suffix = EVENT_SUFFIXES[events_format]
    month_files = sorted(events_dir.glob(f"*{suffix}"))
    if not month_files:
        raise CswError(f"no events/*{suffix} file in {events_dir}; simulate the landing again")
    month_file = month_files[-1]
    rows = _event_rows_sql(month_file, events_format)
    received_date = f"cast({_received_at_sql(events_format)} as date)"

    new_day_dir.mkdir(parents=True, exist_ok=True)
    rest_file = month_file.with_name(f".rest{suffix}")
    with _connect() as connection:
        day = connection.execute(f"select max({received_date}) from {rows}").fetchone()[0]
        if day is None:
            raise CswError(f"{month_file} contains no events; simulate the landing again")
        day_file = new_day_dir / f"{day.isoformat()}{suffix}"
        selected = "*" if events_format == "parquet" else "line"
        day_filter = f"{received_date} = date {_sql_string(day.isoformat())}"
        connection.execute(_copy_sql(f"select {selected} from {rows} where {day_filter}", day_file, events_format))
        connection.execute(
            _copy_sql(f"select {selected} from {rows} where not ({day_filter})", rest_file, events_format)
        )
        day_events = connection.execute(f"select count(*) from {_event_rows_sql(day_file, events_format)}").fetchone()[0]
    rest_file.replace(month_file)
    LOGGER.info("moved %d events received on %s from %s to %s", day_events, day, month_file.name, day_file)
    return day.isoformat(), day_file, day_events


# ---------------------------------------------------------------------------------------------
# Landing preparation


def _simulate(spec: SizeSpec, landing: Path) -> float:
    csw = Path(sys.executable).with_name("csw")
    command = [
        str(csw), "simulate", "--out", str(landing), "--accounts", str(spec.accounts), "--months", str(spec.months),
        "--seed", str(spec.seed), "--events-format", spec.events_format,
    ]
    LOGGER.info("simulating %s: %s", spec.name, " ".join(command))
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise CswError(f"`{' '.join(command)}` failed with exit code {completed.returncode}: {completed.stderr[-2000:]}")
    return time.monotonic() - started


def _read_metadata(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def prepare_landing(spec: SizeSpec, size_dir: Path) -> PreparedLanding:
    """Simulate the size's landing and split off its last day, or reuse both when already done with the same arguments."""
    landing = size_dir / "landing"
    new_day_dir = size_dir / "new_day" / "events"
    metadata_path = size_dir / LANDING_METADATA
    arguments = asdict(spec)

    metadata = _read_metadata(metadata_path)
    if metadata is not None and metadata.get("arguments") == arguments:
        day_file = new_day_dir / metadata["new_day_file"]
        if landing.is_dir() and day_file.is_file():
            LOGGER.info("reusing the %s landing in %s", spec.name, landing)
            return PreparedLanding(
                spec=spec, landing=landing, new_day_file=day_file, new_day=metadata["new_day"],
                new_day_events=metadata["new_day_events"], events=metadata["events"],
                simulate_seconds=metadata["simulate_seconds"],
            )

    metadata_path.unlink(missing_ok=True)
    for folder in (landing, new_day_dir.parent):
        if folder.exists():
            shutil.rmtree(folder)
    simulate_seconds = round(_simulate(spec, landing), 1)
    new_day, day_file, day_events = split_last_day(landing / "events", new_day_dir, spec.events_format)
    events = count_events(landing / "events", spec.events_format) + day_events

    metadata_path.write_text(json.dumps({
        "arguments": arguments,
        "new_day": new_day,
        "new_day_file": day_file.name,
        "new_day_events": day_events,
        "events": events,
        "simulate_seconds": simulate_seconds,
    }, indent=2) + "\n")
    return PreparedLanding(
        spec=spec, landing=landing, new_day_file=day_file, new_day=new_day, new_day_events=day_events,
        events=events, simulate_seconds=simulate_seconds,
    )


def set_new_day_present(prepared: PreparedLanding, present: bool) -> None:
    """Put the new day's event file into the landing (present) or take it out (the base landing)."""
    target = prepared.landing / "events" / prepared.new_day_file.name
    if present and not target.exists():
        shutil.copy2(prepared.new_day_file, target)
    elif not present:
        target.unlink(missing_ok=True)
