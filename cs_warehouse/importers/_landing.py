"""Shared helpers of the importers: source checks, landing-file writers and time conversions.

Every writer sorts nothing itself: callers pass rows in a fixed order, so the same source always
gives byte-identical landing files.
"""

from __future__ import annotations

import calendar
import csv
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from cs_warehouse.contract import Entity
from cs_warehouse.errors import CswError

log = logging.getLogger(__name__)

ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def require_source_dir(source: Path, data_set: str, download_hint: str) -> Path:
    """Return `source` as an existing folder, or raise CswError saying what to download."""
    if not source.exists():
        raise CswError(f"{data_set}: source folder {source} not found. {download_hint}")
    if not source.is_dir():
        raise CswError(f"{data_set}: {source} is a file, expected the folder that contains the data set. "
                       f"{download_hint}")
    return source


def find_file(folder: Path, candidates: Sequence[str], data_set: str, download_hint: str) -> Path:
    """Return the first of `candidates` that exists in `folder`, or raise CswError naming them all."""
    for name in candidates:
        path = folder / name
        if path.exists():
            return path
    names = " or ".join(candidates)
    raise CswError(f"{data_set}: required file {names} not found in {folder}. {download_hint}")


def require_columns(
    con: duckdb.DuckDBPyConnection,
    relation_sql: str,
    required: Iterable[str],
    path: Path,
    data_set: str,
) -> None:
    """Raise CswError when the relation read from `path` lacks one of the `required` columns."""
    present = {row[0] for row in con.execute(f"describe select * from {relation_sql}").fetchall()}
    missing = [name for name in required if name not in present]
    if missing:
        raise CswError(
            f"{data_set}: {path} is missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(sorted(present))}. Use the unmodified file of the original download."
        )


def sql_string(value: str | Path) -> str:
    """Quote a value as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def prepare_out_dir(out_dir: Path) -> None:
    """Create the landing folder; raise CswError when it already contains files.

    Importing into a folder that contains another data set's files would mix two sources in one load.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise CswError(f"landing folder {out_dir} is a file; pass a folder path to --out")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise CswError(f"landing folder {out_dir} is not empty; import into a new or empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)


def landing_path(out_dir: Path, entity: Entity, file_name: str) -> Path:
    """Return the path of a landing file of `entity`, checking that the contract's patterns match it."""
    folder = entity.patterns[0].split("/")[0]
    path = out_dir / folder / file_name
    relative = path.relative_to(out_dir).as_posix()
    if not any(Path(relative).match(pattern) for pattern in entity.patterns):
        raise AssertionError(f"{relative} matches none of {entity.table}'s patterns {entity.patterns}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a UTF-8 CSV with one header row; None becomes an empty field. Return the row count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if value is None else _csv_value(value) for value in row])
            count += 1
    log.info("wrote %d rows to %s", count, path)
    return count


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write one JSON object per line, keys in insertion order. Return the record count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
            count += 1
    log.info("wrote %d records to %s", count, path)
    return count


def midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def to_epoch(moment: datetime | None) -> int | None:
    """Unix seconds of an aware datetime (Stripe's timestamp convention)."""
    if moment is None:
        return None
    return int(moment.timestamp())


def to_iso(moment: datetime | None) -> str | None:
    """ISO-8601 text in UTC with a Z suffix, as the CSV landing files carry timestamps."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime(ISO_UTC_FORMAT)


def add_months(moment: datetime, months: int) -> datetime:
    """Add calendar months, clamping the day to the target month's length (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def billing_period(anchor: datetime, months_per_period: int, at: datetime) -> tuple[datetime, datetime]:
    """Return the billing period (start, end) anchored at `anchor` whose start <= at < end.

    Periods are counted from the anchor, so day clamping never drifts (Jan 31, Feb 28, Mar 31).
    A moment before the anchor falls in the first period.
    """
    index = 0
    while add_months(anchor, (index + 1) * months_per_period) <= at:
        index += 1
    return add_months(anchor, index * months_per_period), add_months(anchor, (index + 1) * months_per_period)
