"""Time the raw.events suite on generated raw.events rows: both engines, and the DuckDB engine's query plans.

    .venv/bin/python -m data_quality.benchmark --out /tmp/dq-bench 100000 300000 1000000

For each row count this builds a DuckDB file under --out with raw.events, raw.crm_accounts and
raw.catalog_features. It times `run_suite` with the pandas engine (up to --pandas-max-rows) and with
the DuckDB engine. It also times the DuckDB evaluation alone, with each expectation's own queries
(`evaluate`) and with the shared scan (`evaluate_suite`). One event in 41 has an unknown event name,
one in 2001 an unknown account and one in 1000 is future-dated, so three warning expectations fail
and run sample queries.
"""

from __future__ import annotations

import argparse
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from cs_warehouse.raw_schema import create_raw_schema
from data_quality import duckdb_engine
from data_quality.outcomes import outcome_from_result
from data_quality.runner import run_suite
from data_quality.scope import RowScope
from data_quality.suites import build_raw_suite
from data_quality.validation import source_relation

REPEATS = 2
ACCOUNTS = 2000
CATALOG_EVENTS = 40
SECONDS_PER_YEAR = 365 * 24 * 3600


def build_events_table(path: Path, rows: int) -> None:
    """Write a DuckDB file with `rows` generated events and the two tables the events suite references."""
    with duckdb.connect(str(path)) as con:
        create_raw_schema(con)
        con.execute(
            f"""
            insert into raw.crm_accounts
            select 'acc_' || i, 'name', null, 10, 'DE', null, timestamp '2024-01-01',
                'accounts.csv', i, timestamp '2025-01-01', null
            from range({ACCOUNTS}) as t(i)
            """
        )
        con.execute(
            f"""
            insert into raw.catalog_features
            select 'ev_' || i, 'feature', true, false, false, null, 'catalog.csv', i, timestamp '2025-01-01', null
            from range({CATALOG_EVENTS}) as t(i)
            """
        )
        # Event names cycle over 41 values and accounts over 2001, one more than each reference table has.
        con.execute(
            f"""
            insert into raw.events
            select
                'msg_' || i, 'track', 'ev_' || (i % {CATALOG_EVENTS + 1}), 'u_' || (i % 50000), null,
                'acc_' || (i % {ACCOUNTS + 1}), '{{"plan": "pro"}}', null, '{{"library": "js"}}',
                timestamp '2024-01-01' + to_seconds(i % {SECONDS_PER_YEAR}),
                timestamp '2024-01-01' + to_seconds(i % {SECONDS_PER_YEAR} + 1),
                timestamp '2024-01-01' + to_seconds(i % {SECONDS_PER_YEAR} + 2),
                timestamp '2024-01-01' + to_seconds(i % {SECONDS_PER_YEAR}),
                -1.0, i % 1000 = 0, 'events/2024.jsonl.gz', i, timestamp '2025-01-01', null
            from range({rows}) as t(i)
            """
        )


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def time_engines(path: Path, data_docs: Path, engines: dict[str, int]) -> dict[str, list[float]]:
    """Time run_suite on the events table with each engine (name -> pandas_max_rows), alternating, REPEATS times."""
    build = functools.partial(build_raw_suite, table="events")
    timings: dict[str, list[float]] = {engine: [] for engine in engines}
    for repeat in range(REPEATS):
        for engine, pandas_max_rows in engines.items():
            run_id = f"benchmark-{engine}-{repeat}"
            timings[engine].append(seconds(lambda: run_suite(path, data_docs, build, run_id, pandas_max_rows)))
    return timings


def time_duckdb_scans(path: Path) -> dict[str, list[float]]:
    """Time the DuckDB evaluation of the events suite, per expectation and shared, and check they agree."""
    timings: dict[str, list[float]] = {"per expectation": [], "shared scan": []}
    with duckdb.connect(str(path)) as con:
        suite = build_raw_suite(con, "events")
        relation = source_relation(con, suite, RowScope())
        existing = duckdb_engine.relation_columns(con, relation)
        index_columns = tuple(c for c in suite.index_columns if c in existing)
        expectations = suite.suite.expectations
        for _ in range(REPEATS):
            start = time.perf_counter()
            separate = [duckdb_engine.evaluate(con, relation, e, index_columns) for e in expectations]
            timings["per expectation"].append(time.perf_counter() - start)
            start = time.perf_counter()
            shared = duckdb_engine.evaluate_suite(con, relation, expectations, index_columns)
            timings["shared scan"].append(time.perf_counter() - start)
    for separate_result, shared_result in zip(separate, shared, strict=True):
        # Samples come from `limit` without `order by`, so only their sizes must agree.
        first, second = outcome_from_result(separate_result), outcome_from_result(shared_result)
        if first.__dict__ | {"sample": len(first.sample)} != second.__dict__ | {"sample": len(second.sample)}:
            raise RuntimeError(f"the two DuckDB evaluations disagree: {first} != {second}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="+", help="row counts of the generated raw.events tables")
    parser.add_argument("--out", type=Path, required=True, help="folder for the DuckDB files and Data Docs")
    parser.add_argument("--pandas-max-rows", type=int, default=1_000_000,
                        help="largest table (rows) to time with the pandas engine too; default 1,000,000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        path = args.out / f"events_{rows}.duckdb"
        path.unlink(missing_ok=True)
        build_events_table(path, rows)
        engines = {"pandas": 10**12, "duckdb": 0} if rows <= args.pandas_max_rows else {"duckdb": 0}
        timings = {**time_engines(path, args.out / "data_docs", engines), **time_duckdb_scans(path)}
        for name, values in timings.items():
            print(f"{rows:>11,} rows  {name:16} " + "  ".join(f"{v:6.2f} s" for v in values), flush=True)


if __name__ == "__main__":
    main()
