"""Run the benchmark floor: bench/floor.sql over a landing folder, into tables floor.* of a DuckDB file.

    python -m bench.floor --landing DIR --db FILE [--memory-limit 6GB] [--threads N]

The script is plain DuckDB SQL with two kinds of markers that this module fills in:
- `{{ name }}`: the SQL list of the files of landing entity `name` (a raw table name from
  cs_warehouse/contract.py), or `events_jsonl` / `events_parquet` for the event files of one format.
- `-- @events_jsonl`, `-- @events_parquet` and `-- @end`: the blocks between them read events in one
  format. A block is kept only when the folder has event files in that format, and kept blocks are
  joined with `union all`.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cs_warehouse.contract import ENTITIES_BY_TABLE, EVENTS
from cs_warehouse.errors import CswError
from cs_warehouse.ingest.connection import configure_connection

log = logging.getLogger(__name__)

SCRIPT_PATH = Path(__file__).with_name("floor.sql")
DEFAULT_MEMORY_LIMIT = "6GB"

# Landing entities the script reads, besides the events.
FILE_ENTITIES = (
    "crm_accounts",
    "crm_contacts",
    "crm_tickets",
    "crm_nps_responses",
    "crm_cs_activities",
    "catalog_features",
    "billing_customers",
    "billing_prices",
    "billing_fx_rates",
    "billing_invoices",
    "billing_subscription_events",
)
EVENT_BLOCKS = {"events_jsonl": "jsonl", "events_parquet": "parquet"}
# Name the DuckDB file is attached under while the script runs.
CATALOG = "bench_floor"
FLOOR_TABLES = ("account_mrr_monthly", "account_engagement_weekly", "account_health_daily")

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
BLOCK_MARKER = re.compile(r"^\s*--\s*@(\w+)\s*$")


@dataclass(frozen=True)
class FloorResult:
    """Row counts of the floor tables and the script's wall time in seconds."""

    row_counts: dict[str, int]
    seconds: float


def find_files(landing_dir: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Return the files matching the contract globs (and their .gz variants), sorted by relative path.

    Hidden files are skipped, as ingestion skips them (cs_warehouse.ingest.files).
    """
    matches: set[Path] = set()
    for pattern in patterns:
        for variant in (pattern, f"{pattern}.gz"):
            matches.update(p for p in landing_dir.glob(variant) if p.is_file() and not p.name.startswith("."))
    return sorted(matches, key=lambda p: p.relative_to(landing_dir).as_posix())


def event_format(path: Path) -> str:
    return path.name.removesuffix(".gz").rsplit(".", 1)[-1].lower()


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_file_list(paths: list[Path]) -> str:
    return "[" + ", ".join(sql_string(str(p)) for p in paths) + "]"


def landing_file_lists(landing_dir: Path) -> dict[str, list[Path]]:
    """Map each placeholder of the script to its landing files; raise CswError when the floor cannot run."""
    if not landing_dir.is_dir():
        raise CswError(f"landing folder {landing_dir} not found; pass the folder `csw simulate --out` wrote")

    lists = {table: find_files(landing_dir, ENTITIES_BY_TABLE[table].patterns) for table in FILE_ENTITIES}
    event_files = find_files(landing_dir, EVENTS.patterns)
    for block, suffix in EVENT_BLOCKS.items():
        lists[block] = [p for p in event_files if event_format(p) == suffix]

    if not any(lists.values()):
        raise CswError(
            f"landing folder {landing_dir} has no landing files (expected crm/*.csv, billing/*.jsonl, "
            "events/*.jsonl.gz or events/*.parquet and catalog/features.csv); "
            "simulate one with `csw simulate --out DIR`"
        )
    missing = [
        " or ".join(ENTITIES_BY_TABLE[table].patterns) for table in FILE_ENTITIES if not lists[table]
    ]
    if not event_files:
        missing.append(" or ".join(EVENTS.patterns))
    if missing:
        raise CswError(
            f"landing folder {landing_dir} has no files matching {'; '.join(missing)}; "
            "the floor needs every CRM, billing, catalog and events export it reads"
        )
    return lists


def keep_event_blocks(script: str, present: set[str]) -> str:
    """Keep the `-- @name` blocks named in `present`, joined with `union all`, and drop the others."""
    output: list[str] = []
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in script.splitlines():
        marker = BLOCK_MARKER.match(line)
        if marker is None:
            (current if current is not None else output).append(line)
            continue
        name = marker.group(1)
        if name == "end":
            output.append("\n    union all\n".join("\n".join(block) for block in blocks))
            blocks, current = [], None
        elif name in EVENT_BLOCKS:
            current = []
            if name in present:
                blocks.append(current)
        else:
            raise CswError(f"{SCRIPT_PATH}: unknown block marker '-- @{name}'")
    if current is not None:
        raise CswError(f"{SCRIPT_PATH}: block '-- @{name}' has no '-- @end'")
    return "\n".join(output) + "\n"


def render_script(script: str, lists: dict[str, list[Path]]) -> str:
    """Return the script with its event blocks chosen and every {{ name }} replaced by a file list."""
    present = {block for block in EVENT_BLOCKS if lists[block]}
    rendered = keep_event_blocks(script, present)

    def file_list(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lists:
            raise CswError(f"{SCRIPT_PATH}: unknown placeholder {{{{ {name} }}}}; expected one of {sorted(lists)}")
        return sql_file_list(lists[name])

    return PLACEHOLDER.sub(file_list, rendered)


def run_floor(landing_dir: Path, database: Path, memory_limit: str = DEFAULT_MEMORY_LIMIT,
              threads: int | None = None) -> FloorResult:
    """Build floor.account_mrr_monthly, floor.account_engagement_weekly and floor.account_health_daily."""
    if threads is not None and threads < 1:
        raise CswError(f"invalid --threads {threads}: expected a whole number of 1 or more")
    lists = landing_file_lists(landing_dir)
    script = render_script(SCRIPT_PATH.read_text(encoding="utf-8"), lists)
    event_files = sum(len(lists[block]) for block in EVENT_BLOCKS)
    log.info("running %s on %s (%d event files) into %s", SCRIPT_PATH.name, landing_dir, event_files, database)

    # The file is attached under a fixed name, because a file named floor.duckdb would give a catalog
    # "floor" that DuckDB cannot tell apart from the schema floor.
    con = duckdb.connect()
    try:
        configure_connection(con, database, memory_limit)
        try:
            con.execute(f"attach {sql_string(str(database))} as {CATALOG}")
        except duckdb.Error as error:
            raise CswError(
                f"failed to open DuckDB file {database}: {error}; check the path and that no other process writes to it"
            ) from None
        con.execute(f"use {CATALOG}")
        if threads is not None:
            con.execute(f"set threads = {int(threads)}")
        started = time.perf_counter()
        try:
            con.execute(script)
        except duckdb.Error as error:
            raise CswError(f"floor script {SCRIPT_PATH} failed on landing folder {landing_dir}: {error}") from None
        seconds = time.perf_counter() - started
        counts = {}
        for table in FLOOR_TABLES:
            row = con.execute(f"select count(*) from floor.{table}").fetchone()
            counts[table] = int(row[0]) if row else 0
    finally:
        con.close()
    return FloorResult(row_counts=counts, seconds=seconds)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True, help="landing folder to read")
    parser.add_argument("--db", type=Path, required=True,
                        help="DuckDB file to write the floor.* tables to (created when missing)")
    parser.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT,
                        help=f"DuckDB memory_limit, a size such as 6GB or 512MB (default {DEFAULT_MEMORY_LIMIT})")
    parser.add_argument("--threads", type=int, default=None,
                        help="DuckDB worker threads (default: DuckDB's, one per core)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = run_floor(args.landing, args.db, args.memory_limit, args.threads)
    except CswError as error:
        print(f"bench.floor: error: {error}", file=sys.stderr)
        return 1
    for table, count in result.row_counts.items():
        print(f"floor.{table}: {count} rows")
    print(f"wall time: {result.seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
