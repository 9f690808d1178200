"""Daily event partitions: windows of files, the lock of Dagster-launched runs, and partitioned runs
that end with the same marts as one full run.

The end-to-end test simulates a landing folder with one events file per day received. One warehouse
gets a single full `csw run` on all of it. The other gets a full run on the days before a cut, then
the remaining days arrive and are run as partitions: one day alone, then the rest as one backfill
run. The simulator delays about 0.6 % of events by 1 to 15 days, within the 15-day look-back, so the
late events of the partitioned days must land on their own days for the marts to match.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.config import DATA_DOCS_ENV, MODEL_STORE_ENV
from cs_warehouse.contract import EVENTS
from cs_warehouse.errors import CswError
from cs_warehouse.ingest import DayWindow, load_entity
from cs_warehouse.ingest.files import path_date
from cs_warehouse.locking import LOCK_WAIT_SECONDS_ENV, lock_for_this_process, lock_path
from cs_warehouse.run import make_scope, run_pipeline
from data_quality.suites import referenced_tables

ACCOUNTS = 40
MONTHS = 3
SEED = 5
# Days of events that arrive after the base run: the first alone, the others as one backfill run.
PARTITIONED_DAYS = 6
# Schemas of dbt models; the models that read the churn scores are left out (see below).
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "ml_features")
HOLD_LOCK_SCRIPT = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


# ---------------------------------------------------------------------------------------------
# Windows of landing files


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("events/2025-03-20.jsonl.gz", date(2025, 3, 20)),
        ("events/date=2025-03-20/part-0.parquet", date(2025, 3, 20)),
        ("events/2025-03.jsonl.gz", None),
        ("events/2025-13-40.jsonl", None),
        ("events/batch-12025-03-201.jsonl", None),
    ],
)
def test_path_date(path, expected):
    assert path_date(path) == expected


def test_day_window_includes_its_days_and_undated_files():
    window = DayWindow(start=date(2025, 3, 20), end=date(2025, 3, 22))

    assert [window.includes(f"events/2025-03-{day}.jsonl.gz") for day in (19, 20, 21, 22)] == [
        False, True, True, False,
    ]
    assert window.includes("events/2025-03.jsonl.gz")
    assert DayWindow().includes("events/1999-01-01.jsonl")


def test_window_load_names_new_files_outside(tmp_path):
    events = tmp_path / "landing" / "events"
    events.mkdir(parents=True)
    line = '{"messageId": "%s", "type": "track", "event": "e", "userId": "u", "groupId": "a", ' \
        '"timestamp": "%sT10:00:00Z", "receivedAt": "%sT10:00:01Z"}\n'
    for message_id, day in (("m1", "2025-03-19"), ("m2", "2025-03-20"), ("m3", "2025-03-22")):
        (events / f"{day}.jsonl").write_text(line % (message_id, day, day))
    messages: list[str] = []
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    load_entity(con, EVENTS, tmp_path / "landing", window=DayWindow(start=date(2025, 3, 19), end=date(2025, 3, 20)))

    report = load_entity(
        con, EVENTS, tmp_path / "landing", window=DayWindow(start=date(2025, 3, 20), end=date(2025, 3, 21)),
        log=messages.append,
    )

    assert report.rows_loaded == 1
    # 2025-03-19 was loaded by the first run; only 2025-03-22 is new and outside this window.
    outside = [m for m in messages if "dated outside" in m]
    assert outside == [
        "raw.events: 1 new file dated outside this run's days, left unloaded until a run covers "
        "their days: events/2025-03-22.jsonl"
    ]
    con.close()


# ---------------------------------------------------------------------------------------------
# Scope of `csw run`


def test_scope_of_partition_and_backfill():
    assert make_scope().job_name() == "__ASSET_JOB"
    assert make_scope(partition="2025-03-20").job_name() == "daily_update"
    backfill = make_scope(first_day="2025-03-01", last_day="2025-03-20")
    assert (backfill.first_day, backfill.last_day, backfill.job_name()) == ("2025-03-01", "2025-03-20", "daily_update")
    assert make_scope(select="core").job_name() == "core_marts"


def test_core_job_loads_referenced_tables():
    # A raw table's checks compare its keys with other raw tables, which must be loaded too. Left
    # empty, they would fail those checks for no fault in the data.
    from orchestration.definitions import defs

    selected = defs.resolve_job_def("core_marts").asset_layer.selected_asset_keys
    raw_tables = {key.path[1] for key in selected if key.path[0] == "raw"}
    missing = {parent for table in raw_tables for parent in referenced_tables(table)} - raw_tables
    assert not missing
    assert {"crm_csms", "billing_subscriptions"} <= raw_tables


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"partition": "20-03-2025"}, "is not a date; write it as YYYY-MM-DD"),
        ({"first_day": "2025-03-01"}, "needs both --from DAY and --to DAY"),
        ({"first_day": "2025-03-20", "last_day": "2025-03-01"}, "--from 2025-03-20 is after --to 2025-03-01"),
        ({"partition": "2025-03-01", "first_day": "2025-03-01", "last_day": "2025-03-02"}, "not both"),
    ],
)
def test_scope_errors(arguments, message):
    with pytest.raises(CswError, match=message):
        make_scope(**arguments)


def test_partition_before_the_first_partition_is_refused(tmp_path):
    landing = tmp_path / "landing"
    (landing / "catalog").mkdir(parents=True)
    (landing / "catalog" / "features.csv").write_text("event_name,is_feature\n", encoding="utf-8")

    with pytest.raises(CswError, match="2019-12-31 is not an event partition.*to start them earlier"):
        run_pipeline(landing, tmp_path / "w.duckdb", make_scope(partition="2019-12-31"))
    with pytest.raises(CswError, match="2999-01-01 is not an event partition.*once the day is over"):
        run_pipeline(landing, tmp_path / "w.duckdb", make_scope(partition="2999-01-01"))


# ---------------------------------------------------------------------------------------------
# Schedules and backfills


def test_daily_schedule_runs_previous_day():
    from datetime import datetime, timezone

    import dagster as dg

    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("daily_update_schedule")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 3, 21, 2, 0, tzinfo=timezone.utc))
    requests = schedule.evaluate_tick(context).run_requests

    assert schedule.job_name == "daily_update"
    assert [request.partition_key for request in requests] == ["2025-03-20"]


def test_event_assets_backfill_in_one_run():
    import dagster as dg

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in (["raw", "events"], ["intermediate", "int_product__user_event_days"]):
        policy = graph.get(dg.AssetKey(key)).backfill_policy
        assert policy is not None, key
        assert policy.max_partitions_per_run is None, key


# ---------------------------------------------------------------------------------------------
# Lock of runs Dagster launches


def test_step_lock_waits_then_names_the_holder(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, str(lock_path(warehouse)), "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv(LOCK_WAIT_SECONDS_ENV, "1.5")
        with pytest.raises(CswError, match=r"after waiting 2 s"):
            lock_for_this_process(warehouse)
    finally:
        holder.kill()
        holder.wait()


def test_step_lock_is_taken_once_the_holder_exits(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, str(lock_path(warehouse)), "1"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv(LOCK_WAIT_SECONDS_ENV, "30")
        lock_for_this_process(warehouse)
        # Held now by this process: a `csw run` from another process would fail at once.
        probe = subprocess.run(
            [sys.executable, "-c", "import fcntl, sys; h = open(sys.argv[1], 'a'); "
             "fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(lock_path(warehouse))],
            capture_output=True, text=True,
        )
        assert probe.returncode != 0
        assert "BlockingIOError" in probe.stderr
    finally:
        holder.kill()
        holder.wait()


def test_warehouse_steps_share_one_pool(tmp_path):
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.resources import WAREHOUSE_POOL

    steps = [a for a in defs.resolve_asset_graph().assets_defs if a.is_executable]
    assert {a.node_def.name for a in steps if a.node_def.pool != WAREHOUSE_POOL} == set()

    # The instance writes its storage beside its settings, so read a copy of the committed settings.
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(tmp_path))
        pool_config = dg.DagsterInstance.get().get_concurrency_config().pool_config
    assert (pool_config.pool_granularity.value, pool_config.default_pool_limit) == ("run", 1)


# ---------------------------------------------------------------------------------------------
# Partitioned runs against one full run


def _copy_landing(source: Path, target: Path, last_event_day: date | None) -> None:
    """Copy a landing folder, keeping only the events files dated up to last_event_day (all when None)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("events"))
    (target / "events").mkdir()
    for path in sorted((source / "events").iterdir()):
        day = path_date(path.name)
        if last_event_day is None or (day is not None and day <= last_event_day):
            shutil.copy2(path, target / "events" / path.name)


def _score_driven_models() -> set[str]:
    """Tables whose values come from the churn scores: they differ because the full run retrains the model."""
    from orchestration.assets.dbt import DBT_PROJECT, score_model_ids

    return {unique_id.split(".")[-1] for unique_id in score_model_ids(DBT_PROJECT)}


def _table_rows(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple]:
    """Every row of a table, sorted, with doubles rounded to 9 significant digits.

    Sums of doubles depend on the order a parallel aggregate adds them in, in the last bits only.
    """
    rows = con.execute(f'select * from {catalog}."{schema}"."{table}" order by all').fetchall()
    return [tuple(_round(value) for value in row) for row in rows]


def _round(value: object) -> object:
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return round(value, 8 - int(math.floor(math.log10(abs(value)))))
    return value


@pytest.fixture(scope="module")
def daily_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cs_warehouse.simulate import simulate

    out_dir = tmp_path_factory.mktemp("daily_landing")
    simulate(out_dir=out_dir, accounts=ACCOUNTS, months=MONTHS, seed=SEED, events_files="daily")
    return out_dir


@pytest.mark.slow
def test_partitioned_runs_match_full_run(daily_landing, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_STORE_ENV, str(tmp_path / "model_store"))
    monkeypatch.setenv(DATA_DOCS_ENV, str(tmp_path / "data_docs"))
    days = sorted(day for day in (path_date(p.name) for p in (daily_landing / "events").iterdir()) if day)
    last_day = days[-1]
    cut = last_day - timedelta(days=PARTITIONED_DAYS)

    full = tmp_path / "full.duckdb"
    assert run_pipeline(daily_landing, full) == 0

    landing = tmp_path / "landing"
    _copy_landing(daily_landing, landing, last_event_day=cut)
    partitioned = tmp_path / "partitioned.duckdb"
    assert run_pipeline(landing, partitioned) == 0

    shutil.rmtree(landing)
    _copy_landing(daily_landing, landing, last_event_day=None)
    first = cut + timedelta(days=1)
    assert run_pipeline(landing, partitioned, make_scope(partition=first.isoformat())) == 0
    backfill = make_scope(first_day=(first + timedelta(days=1)).isoformat(), last_day=last_day.isoformat())
    assert run_pipeline(landing, partitioned, backfill) == 0

    con = duckdb.connect()
    con.execute(f"attach '{full}' as full_run (read_only)")
    con.execute(f"attach '{partitioned}' as partitioned_run (read_only)")
    score_driven = _score_driven_models()
    tables = [
        (schema, table)
        for schema, table in con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_catalog = 'full_run' and table_schema in {MODEL_SCHEMAS} order by all"
        ).fetchall()
        if table not in score_driven
    ]
    assert ("marts", "account_health_daily") in tables
    assert ("intermediate", "int_product__user_event_days") in tables

    late_events = con.execute(
        "select count(*) from partitioned_run.raw.events "
        f"where cast(received_at as date) > '{cut}' and cast(event_at as date) < cast(received_at as date) - 1"
    ).fetchone()[0]
    assert late_events > 0, "the partitioned days should carry events that arrived days late"

    differing = [
        f"{schema}.{table}"
        for schema, table in tables
        if _table_rows(con, "full_run", schema, table) != _table_rows(con, "partitioned_run", schema, table)
    ]
    assert differing == []
