"""`csw run`: materialize assets and asset checks in one in-process Dagster run and print a summary.

By default the run covers every asset and every event day, as a run without a partition: it loads all
new landing files, rebuilds every model and retrains the churn model. `--partition DAY` (or `--from DAY --to DAY`, a
backfill in one run) runs the `daily_update` job over those days instead, and `--select core` the
`core_marts` job (see orchestration.jobs).

The warehouse is guarded by an exclusive lock file beside it (`<warehouse>.lock`, see
cs_warehouse.locking), so a second run against the same file stops at once instead of waiting for or
corrupting the first.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from cs_warehouse.config import (
    DEFAULT_LANDING_DIR,
    EVENT_PARTITIONS_START_ENV,
    LANDING_DIR_ENV,
    WAREHOUSE_ENV,
    load_settings,
    temporary_environment,
)
from cs_warehouse.contract import ENTITIES, ENTITIES_BY_TABLE
from cs_warehouse.errors import CswError
from cs_warehouse.locking import warehouse_lock
from cs_warehouse.raw_schema import raw_tables
from cs_warehouse.text import counted

LOGGER = logging.getLogger(__name__)

DEFINITIONS_MODULE = "orchestration.definitions"
# Jobs of orchestration.definitions that `csw run` runs (see orchestration.jobs).
ALL_ASSETS_JOB = "__ASSET_JOB"
DAILY_UPDATE_JOB = "daily_update"
CORE_MARTS_JOB = "core_marts"
SELECTIONS = ("all", "core")
# Run tags of a run over a range of partitions, as a single-run backfill sets them.
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
# Steps listed in the summary's slowest steps.
SLOWEST_STEPS_SHOWN = 8
# Lines of a failed step's error printed in the summary; the Dagster event log has the full text.
ERROR_LINES_SHOWN = 3


# ---------------------------------------------------------------------------------------------
# Paths and lock


def _resolve(path: Path | None, default: Path) -> Path:
    return Path(path).expanduser().resolve() if path is not None else default


def _is_missing_or_empty(folder: Path) -> bool:
    return not folder.is_dir() or not any(folder.iterdir())


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
    # Wall seconds of each step that succeeded, by step key.
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def error_checks_failed(self) -> list[str]:
        """Names of the failed checks of error severity, the ones that fail the run."""
        return [name for name, severity in self.checks_failed if severity == dg.AssetCheckSeverity.ERROR.value]

    @property
    def has_error_check_failure(self) -> bool:
        return bool(self.error_checks_failed)


def _root_cause_message(error: object) -> str:
    """Return the first lines of the innermost error, the one user code raised."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines() if line.strip()]
    return " ".join(lines[:ERROR_LINES_SHOWN]) if lines else "unknown error"


def summarize(job: dg.JobDefinition, result: dg.ExecuteInProcessResult) -> RunSummary:
    """Sort every executable asset and check of the job into done, failed and skipped."""
    asset_graph = job.asset_layer.asset_graph
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

    for event in result.get_step_success_events():
        summary.step_seconds[event.step_key] = event.event_specific_data.duration_ms / 1000
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


def failure_line(summary: RunSummary) -> str:
    """Return the last line of a failed run's summary: what failed, and the first error again.

    The first error is printed near the top of the summary, above every skipped asset.
    """
    failures = []
    if summary.failed:
        failures.append(f"{counted(len(summary.failed), 'asset')} failed")
    if summary.skipped:
        failures.append(f"{len(summary.skipped)} skipped")
    if summary.error_checks_failed:
        failures.append(f"{counted(len(summary.error_checks_failed), 'error-severity check')} failed")
    if summary.checks_errored:
        failures.append(f"{counted(len(summary.checks_errored), 'check')} errored")
    cause = f"; first error in {summary.errors[0]}" if summary.errors else ""
    return f"run failed: {', '.join(failures) or 'see the Dagster log above'}{cause}"


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
    slowest = sorted(summary.step_seconds.items(), key=lambda item: item[1], reverse=True)[:SLOWEST_STEPS_SHOWN]
    if slowest:
        print("slowest steps (wall seconds):")
        for step, step_seconds in slowest:
            print(f"  {step}: {step_seconds:.1f}")
    if counts:
        print("raw tables after the run, all loads so far (rows / rejected rows / duplicates dropped):")
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
        raise CswError(
            f"landing folder {landing} not found; check the folder given by --landing or {LANDING_DIR_ENV}, "
            f"or leave both unset to use ./{DEFAULT_LANDING_DIR}"
        )
    patterns = [variant for entity in ENTITIES for pattern in entity.patterns for variant in (pattern, f"{pattern}.gz")]
    if not any(path.is_file() for pattern in patterns for path in landing.glob(pattern)):
        raise CswError(
            f"landing folder {landing} contains no landing files (expected crm/*.csv, billing/*.jsonl, "
            "events/*.jsonl or *.parquet, catalog/features.csv; see docs/landing_contract.md). "
            "Check --landing, or run `csw simulate --out DIR` for a demo data set"
        )


@dataclass(frozen=True)
class RunScope:
    """Scope of one `csw run`: the assets (`all` or `core`) and the event days (None: every day)."""

    select: str = "all"
    first_day: str | None = None
    last_day: str | None = None

    @property
    def is_every_day(self) -> bool:
        return self.first_day is None

    def job_name(self) -> str:
        if self.select == "core":
            return CORE_MARTS_JOB
        return ALL_ASSETS_JOB if self.is_every_day else DAILY_UPDATE_JOB

    def describe(self) -> str:
        days = "every event day" if self.is_every_day else (
            f"event day {self.first_day}" if self.first_day == self.last_day
            else f"event days {self.first_day} to {self.last_day}"
        )
        job = "every asset" if self.job_name() == ALL_ASSETS_JOB else f"job {self.job_name()}"
        return f"{job} over {days}"


def _check_day(text: str, option: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise CswError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD, such as 2025-03-20") from None


def make_scope(select: str = "all", partition: str | None = None, first_day: str | None = None,
               last_day: str | None = None) -> RunScope:
    """Check the command line's choice of assets and days and return it as a RunScope."""
    if select not in SELECTIONS:
        raise CswError(f"--select {select!r} is unknown; choose one of {', '.join(SELECTIONS)}")
    if partition is not None and (first_day or last_day):
        raise CswError("pass either --partition DAY or --from DAY --to DAY, not both")
    if (first_day is None) != (last_day is None):
        raise CswError("a backfill needs both --from DAY and --to DAY (the same day for one day)")
    if partition is not None:
        day = _check_day(partition, "--partition")
        return RunScope(select, day, day)
    if first_day is not None and last_day is not None:
        first, last = _check_day(first_day, "--from"), _check_day(last_day, "--to")
        if first > last:
            raise CswError(f"--from {first} is after --to {last}")
        return RunScope(select, first, last)
    return RunScope(select)


def _partition_range(scope: RunScope) -> dg.PartitionKeyRange | None:
    """Return the partition range of the scope, checked against the event partitions; None for every day."""
    from orchestration.partitions import EVENT_DAYS

    if scope.is_every_day:
        return None
    first_partition = EVENT_DAYS.get_first_partition_key()
    last_partition = EVENT_DAYS.get_last_partition_key()
    for day in (scope.first_day, scope.last_day):
        if not EVENT_DAYS.has_partition_key(day):
            advice = (
                f"Set {EVENT_PARTITIONS_START_ENV} to start them earlier."
                if first_partition is None or day < first_partition
                else "A day's partition exists once the day is over."
            )
            raise CswError(
                f"{day} is not an event partition: the daily partitions run from {first_partition} to "
                f"{last_partition} (yesterday). {advice}"
            )
    return dg.PartitionKeyRange(scope.first_day, scope.last_day)


def _execute(job: dg.JobDefinition, key_range: dg.PartitionKeyRange | None) -> dg.ExecuteInProcessResult:
    """Run the job in this process over the partition range as one run (a single-run backfill).

    Without a range the run is unpartitioned, which the event assets take as every day.
    """
    tags = {} if key_range is None else {
        ASSET_PARTITION_RANGE_START_TAG: key_range.start,
        ASSET_PARTITION_RANGE_END_TAG: key_range.end,
    }
    with _instance() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False, run_config=_run_config(), tags=tags)


def run_pipeline(landing_dir: Path | None, warehouse: Path | None, scope: RunScope | None = None) -> int:
    """Materialize the assets and checks of the scope (default: all of them, every day) in one run.

    Paths come from the arguments, else CSW_LANDING_DIR / CSW_WAREHOUSE, else the defaults of
    cs_warehouse.config. Returns the exit code: 0 only when the run succeeded and no ERROR-severity
    check failed. Raises CswError when another run holds the warehouse lock, or for days outside the
    event partitions.
    """
    scope = scope or RunScope()
    started = time.monotonic()
    settings = load_settings()
    landing = _resolve(landing_dir, settings.landing_dir)
    warehouse_path = _resolve(warehouse, settings.warehouse)

    # Only the built-in ./landing of a full run gets demo data. A folder named by --landing or
    # CSW_LANDING_DIR that is missing is more likely a typo, and demo accounts must not reach a real
    # warehouse through it.
    uses_default_landing = landing_dir is None and not os.environ.get(LANDING_DIR_ENV)
    simulates_demo_data = uses_default_landing and scope.is_every_day and _is_missing_or_empty(landing)
    if not simulates_demo_data:
        # Before the lock, which creates the warehouse folder and lock file.
        check_landing_folder(landing)
    check_warehouse_path(warehouse_path)
    with warehouse_lock(warehouse_path):
        if simulates_demo_data:
            _simulate_default_landing(landing)
            check_landing_folder(landing)

        with temporary_environment({WAREHOUSE_ENV: str(warehouse_path), LANDING_DIR_ENV: str(landing)}):
            key_range = _partition_range(scope)
            defs = importlib.import_module(DEFINITIONS_MODULE).defs
            job = defs.resolve_job_def(scope.job_name())
            LOGGER.info("running %s: landing %s, warehouse %s", scope.describe(), landing, warehouse_path)
            result = _execute(job, key_range)
            summary = summarize(job, result)
        counts = raw_table_counts(warehouse_path)

    print_summary(summary, counts, time.monotonic() - started)
    print(f"warehouse: {warehouse_path}")
    print(f"data docs: {settings.data_docs / 'site' / 'index.html'}")
    print(f"model store: {settings.model_store}")
    if not result.success or summary.has_error_check_failure:
        print(failure_line(summary))
        return 1
    return 0
