"""`csw run`: materialize every asset and asset check in one in-process Dagster run and print a summary.

The warehouse is guarded by an exclusive lock file beside it (`<warehouse>.lock`, fcntl.flock), so a
second run against the same file stops at once instead of waiting for or corrupting the first.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from cs_warehouse.config import LANDING_DIR_ENV, WAREHOUSE_ENV, load_settings
from cs_warehouse.contract import ENTITIES, ENTITIES_BY_TABLE
from cs_warehouse.errors import CswError
from cs_warehouse.raw_schema import raw_tables

LOGGER = logging.getLogger(__name__)

DEFINITIONS_MODULE = "orchestration.definitions"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
LOCK_SUFFIX = ".lock"
# Lines of a failed step's error printed in the summary; the Dagster event log has the full text.
ERROR_LINES_SHOWN = 3


# ---------------------------------------------------------------------------------------------
# Paths and lock


def _resolve(path: Path | None, default: Path) -> Path:
    return Path(path).expanduser().resolve() if path is not None else default


def _is_missing_or_empty(folder: Path) -> bool:
    return not folder.is_dir() or not any(folder.iterdir())


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + LOCK_SUFFIX)


@contextmanager
def warehouse_lock(warehouse: Path) -> Iterator[Path]:
    """Hold an exclusive lock on the warehouse for the duration of a run; raise CswError when another holds it.

    The lock file stays on disk after the run: deleting it would let two runs lock two different files.
    The operating system releases the lock when the holding process exits, also after a crash.
    """
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise CswError(
                f"another csw run is already using the warehouse {warehouse} (lock file {path}, held by "
                f"process {holder}). Wait for it to finish, or pass --warehouse to use another file."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the run (dbt reads them in its own process) and restore them after."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _instance() -> dg.DagsterInstance:
    if os.environ.get(DAGSTER_HOME_ENV):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


# ---------------------------------------------------------------------------------------------
# Summary


@dataclass
class RunSummary:
    """Outcome of one Dagster run, gathered from its events."""

    materialized: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    checks_passed: list[str] = field(default_factory=list)
    # (check, severity) of every failed check.
    checks_failed: list[tuple[str, str]] = field(default_factory=list)
    # Checks whose step raised an error before it could evaluate them.
    checks_errored: list[str] = field(default_factory=list)
    checks_not_run: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def has_error_check_failure(self) -> bool:
        return any(severity == dg.AssetCheckSeverity.ERROR.value for _, severity in self.checks_failed)


def _root_cause_message(error: object) -> str:
    """Return the first lines of the innermost error, the one user code raised."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines() if line.strip()]
    return " ".join(lines[:ERROR_LINES_SHOWN]) if lines else "unknown error"


def summarize(defs: dg.Definitions, result: dg.ExecuteInProcessResult) -> RunSummary:
    """Sort every executable asset and check of the definitions into done, failed and skipped."""
    asset_graph = defs.resolve_asset_graph()
    failed_steps = result.get_failed_step_keys()
    summary = RunSummary()

    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    failed_keys = set()
    failed_check_keys = set()
    for assets_def in asset_graph.assets_defs:
        if assets_def.is_executable and assets_def.node_def.name in failed_steps:
            failed_keys |= set(assets_def.keys)
            failed_check_keys |= set(assets_def.check_keys)

    for key in sorted(asset_graph.executable_asset_keys, key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        if key in materialized:
            summary.materialized.append(name)
        elif key in failed_keys:
            summary.failed.append(name)
        else:
            summary.skipped.append(name)

    evaluated = set()
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        evaluated.add(evaluation.asset_check_key)
        if evaluation.passed:
            summary.checks_passed.append(name)
        else:
            summary.checks_failed.append((name, evaluation.severity.value))
    for check_key in sorted(asset_graph.asset_check_keys - evaluated, key=lambda k: k.to_user_string()):
        name = f"{check_key.asset_key.to_user_string()}:{check_key.name}"
        if check_key in failed_check_keys:
            summary.checks_errored.append(name)
        else:
            summary.checks_not_run.append(name)

    for event in result.get_step_failure_events():
        summary.errors.append(f"{event.step_key}: {_root_cause_message(event.event_specific_data.error)}")
    return summary


def raw_table_counts(warehouse: Path) -> list[tuple[str, int, int, int | None]]:
    """Return (table, rows, rejected rows, duplicates dropped) per raw table; duplicates are known for entity tables."""
    if not warehouse.exists():
        return []
    counts = []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        existing = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()}
        has_loads = bool(con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw_meta' and table_name = 'file_loads'"
        ).fetchone()[0])
        for table in raw_tables():
            if table.table not in existing:
                continue
            (rows,) = con.execute(f'select count(*) from raw."{table.table}"').fetchone()
            (rejected,) = con.execute(f'select count(*) from raw_rejects."{table.table}"').fetchone()
            duplicates = None
            if has_loads and table.table in ENTITIES_BY_TABLE:
                (duplicates,) = con.execute(
                    "select sum(duplicates_dropped) from raw_meta.file_loads where table_name = ? and is_current",
                    [table.table],
                ).fetchone()
                duplicates = int(duplicates or 0)
            counts.append((table.table, int(rows), int(rejected), duplicates))
    finally:
        con.close()
    return counts


def print_summary(summary: RunSummary, counts: list[tuple[str, int, int, int | None]], seconds: float) -> None:
    print(
        f"assets: {len(summary.materialized)} materialized, {len(summary.failed)} failed, "
        f"{len(summary.skipped)} skipped"
    )
    # The cause of a failure comes first: a failed step can skip dozens of assets below it.
    for message in summary.errors:
        print(f"  error in {message}")
    for name in summary.failed:
        print(f"  failed: {name}")
    for name in summary.skipped:
        print(f"  skipped: {name}")
    print(
        f"checks: {len(summary.checks_passed)} passed, {len(summary.checks_failed)} failed, "
        f"{len(summary.checks_errored)} errored, {len(summary.checks_not_run)} not run"
    )
    for name, severity in summary.checks_failed:
        print(f"  failed ({severity}): {name}")
    for name in summary.checks_errored:
        print(f"  errored: {name}")
    if counts:
        print("raw tables (rows loaded / rejected / duplicates dropped):")
        width = max(len(table) for table, *_ in counts)
        for table, rows, rejected, duplicates in counts:
            duplicates_text = "-" if duplicates is None else str(duplicates)
            print(f"  raw.{table:<{width}}  {rows:>10}  {rejected:>8}  {duplicates_text:>8}")
    print(f"wall time: {seconds:.1f} s")


# ---------------------------------------------------------------------------------------------
# Entry point


def _simulate_default_landing(landing: Path) -> None:
    from cs_warehouse.simulate import simulate

    LOGGER.info("landing folder %s is missing or empty: simulating the default data set into it", landing)
    simulate(out_dir=landing)


def _run_config() -> dict:
    """Return run config that sends Dagster's console log at the level of this module's logger.

    Dagster logs every step event at DEBUG; at the default INFO level the run prints its progress
    lines and errors, and `csw -v` brings the step events back.
    """
    level = "DEBUG" if LOGGER.isEnabledFor(logging.DEBUG) else "INFO"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def check_warehouse_path(warehouse: Path) -> None:
    """Raise CswError when the warehouse path cannot hold a DuckDB file, before anything runs."""
    if warehouse.is_dir():
        raise CswError(f"warehouse {warehouse} is a directory; pass --warehouse with a file path such as "
                       f"{warehouse / 'cs_warehouse.duckdb'}")
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CswError(f"cannot create the folder of the warehouse {warehouse}: {error.strerror}; "
                       "pass --warehouse with a path you can write to") from error
    if not os.access(warehouse.parent, os.W_OK | os.X_OK):
        raise CswError(f"cannot create the warehouse {warehouse}: {warehouse.parent} is not writable; "
                       "pass --warehouse with a path you can write to")
    if warehouse.exists() and not os.access(warehouse, os.R_OK | os.W_OK):
        raise CswError(f"warehouse {warehouse} is not readable and writable; fix its permissions or pass "
                       "another --warehouse")


def check_landing_folder(landing: Path) -> None:
    """Raise CswError when a landing folder contains no file of any landing entity.

    Running on such a folder would load nothing and only report empty tables, so the likely mistake
    (a wrong path) is named instead.
    """
    if not landing.is_dir():
        raise CswError(f"landing folder {landing} not found; pass --landing or set {LANDING_DIR_ENV}")
    patterns = [variant for entity in ENTITIES for pattern in entity.patterns for variant in (pattern, f"{pattern}.gz")]
    if not any(path.is_file() for pattern in patterns for path in landing.glob(pattern)):
        raise CswError(
            f"landing folder {landing} contains no landing files (expected crm/*.csv, billing/*.jsonl, "
            "events/*.jsonl or *.parquet, catalog/features.csv; see docs/landing_contract.md). "
            "Check --landing, or run `csw simulate --out DIR` for a demo data set"
        )


def run_pipeline(landing_dir: Path | None, warehouse: Path | None) -> int:
    """Materialize every asset and check of orchestration.definitions in one run; return the exit code.

    Paths come from the arguments, else CSW_LANDING_DIR / CSW_WAREHOUSE, else the defaults of
    cs_warehouse.config. Returns 0 only when the run succeeded and no ERROR-severity check failed.
    Raises CswError when another run holds the warehouse lock.
    """
    started = time.monotonic()
    settings = load_settings()
    landing = _resolve(landing_dir, settings.landing_dir)
    warehouse_path = _resolve(warehouse, settings.warehouse)

    check_warehouse_path(warehouse_path)
    with warehouse_lock(warehouse_path):
        if landing_dir is None and _is_missing_or_empty(landing):
            _simulate_default_landing(landing)
        check_landing_folder(landing)

        with _environment({WAREHOUSE_ENV: str(warehouse_path), LANDING_DIR_ENV: str(landing)}):
            defs = importlib.import_module(DEFINITIONS_MODULE).defs
            job = defs.resolve_implicit_global_asset_job_def()
            LOGGER.info("running %s: landing %s, warehouse %s", job.name, landing, warehouse_path)
            with _instance() as instance:
                result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=_run_config())
            summary = summarize(defs, result)
        counts = raw_table_counts(warehouse_path)

    print_summary(summary, counts, time.monotonic() - started)
    print(f"warehouse: {warehouse_path}")
    print(f"data docs: {settings.data_docs / 'site' / 'index.html'}")
    print(f"model store: {settings.model_store}")
    if not result.success or summary.has_error_check_failure:
        return 1
    return 0
