"""`csw run`: a full pipeline run, an idempotent second run, and the warehouse lock."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cs_warehouse.cli import main
from cs_warehouse.errors import CswError
from cs_warehouse.locking import lock_path
from cs_warehouse.run import RunSummary, failure_line, print_summary, run_pipeline, summarize

RAW_SCHEMAS = ("raw", "raw_rejects", "raw_meta")
HOLD_LOCK_SCRIPT = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def raw_contents(warehouse: Path) -> dict[str, list[tuple]]:
    """Return every row of every table in the raw, raw_rejects and raw_meta schemas."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in {RAW_SCHEMAS} order by all"
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(f'select * from {schema}."{table}" order by all').fetchall()
            for schema, table in tables
        }
    finally:
        con.close()


@pytest.mark.slow
def test_pipeline_run_succeeds(pipeline_run):
    warehouse, exit_code = pipeline_run
    assert exit_code == 0
    contents = raw_contents(warehouse)
    assert len(contents["raw.crm_accounts"]) == 60
    assert len(contents["raw.events"]) > 0
    assert len(contents["raw_meta.file_loads"]) > 0


@pytest.mark.slow
def test_second_run_leaves_raw_tables_identical(pipeline_warehouse, small_landing, tmp_path, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(pipeline_warehouse, warehouse)
    before = raw_contents(warehouse)

    run_pipeline(small_landing, warehouse)

    assert raw_contents(warehouse) == before
    output = capsys.readouterr().out
    assert "assets:" in output
    assert "raw.crm_accounts" in output
    assert "wall time:" in output


@pytest.fixture
def held_lock(tmp_path):
    """A separate process holding the lock of tmp_path/warehouse.duckdb, as a running `csw run` does."""
    warehouse = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, str(lock_path(warehouse))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield warehouse
    finally:
        holder.kill()
        holder.wait()


def test_concurrent_run_fails_fast(held_lock, small_landing):
    started = time.monotonic()

    with pytest.raises(CswError, match="another run is already writing the warehouse"):
        run_pipeline(small_landing, held_lock)

    assert time.monotonic() - started < 5
    assert not held_lock.exists()


def test_concurrent_cli_run_prints_lock_message(held_lock, small_landing, capsys):
    exit_code = main(["run", "--landing", str(small_landing), "--warehouse", str(held_lock)])

    assert exit_code == 2
    error = capsys.readouterr().err
    assert "another run is already writing the warehouse" in error
    assert str(lock_path(held_lock)) in error


def test_summary_sorts_assets_and_checks():
    @dg.asset
    def upstream() -> None:
        pass

    @dg.asset
    def broken() -> None:
        raise CswError("landing/crm/accounts.csv: required column 'name' missing")

    @dg.asset(deps=[broken])
    def downstream() -> None:
        pass

    @dg.asset_check(asset=upstream)
    def upstream_has_rows() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    @dg.asset_check(asset=upstream)
    def upstream_is_fresh() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR)

    @dg.asset_check(asset=downstream)
    def downstream_has_rows() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    defs = dg.Definitions(
        assets=[upstream, broken, downstream],
        asset_checks=[upstream_has_rows, upstream_is_fresh, downstream_has_rows],
    )
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(raise_on_error=False)

    summary = summarize(job, result)

    assert summary.materialized == ["upstream"]
    assert summary.failed == ["broken"]
    assert summary.skipped == ["downstream"]
    assert summary.checks_passed == ["upstream:upstream_has_rows"]
    assert summary.checks_failed == [("upstream:upstream_is_fresh", "ERROR")]
    assert summary.checks_not_run == ["downstream:downstream_has_rows"]
    assert summary.step_seconds["upstream"] >= 0
    assert "broken" not in summary.step_seconds
    assert summary.has_error_check_failure
    assert summary.errors == ["broken: cs_warehouse.errors.CswError: landing/crm/accounts.csv: required column 'name' missing"]
    assert failure_line(summary) == (
        "run failed: 1 asset failed, 1 skipped, 1 error-severity check failed; first error in broken: "
        "cs_warehouse.errors.CswError: landing/crm/accounts.csv: required column 'name' missing"
    )


def test_warehouse_directory_rejected(small_landing, tmp_path):
    with pytest.raises(CswError, match="is a directory"):
        run_pipeline(small_landing, tmp_path)


def test_empty_landing_folder_rejected(tmp_path):
    empty = tmp_path / "landing"
    empty.mkdir()
    with pytest.raises(CswError, match="contains no landing files"):
        run_pipeline(empty, tmp_path / "warehouse.duckdb")
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_missing_landing_from_environment_rejected(tmp_path, monkeypatch):
    # A typo in CSW_LANDING_DIR must not fill a new folder with demo data and load it.
    missing = tmp_path / "no_such_landing"
    monkeypatch.setenv("CSW_LANDING_DIR", str(missing))
    with pytest.raises(CswError, match="not found"):
        run_pipeline(None, tmp_path / "warehouse.duckdb")
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_summary_wall_time_is_the_runs(capsys):
    summary = RunSummary(step_seconds={"raw_events": 1.5, "dbt_core_models": 7.25})

    print_summary(summary, [], 99.0)

    output = capsys.readouterr().out
    assert "  dbt_core_models: 7.2\n  raw_events: 1.5\n" in output
    assert "wall time: 99.0 s" in output
