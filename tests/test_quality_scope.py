"""raw.events checks validate only the run's load in partitioned runs, and every row in full runs."""

import functools
import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cs_warehouse.config import DATA_DOCS_ENV, WAREHOUSE_ENV, load_settings
from cs_warehouse.contract import EVENTS
from cs_warehouse.ingest import DayWindow, load_entity
from cs_warehouse.raw_schema import create_raw_schema
from data_quality.runner import run_suite
from data_quality.scope import RowScope, loaded_in_run
from data_quality.suites import build_raw_suite
from orchestration.checks.quality import ERRORS_CHECK, WARNINGS_CHECK, raw_table_check
from orchestration.resources import WAREHOUSE_RESOURCE_KEY, WarehouseResource

# pandas_max_rows per engine: 0 sends every table to the DuckDB engine.
ENGINES = {"pandas": 1_000_000, "duckdb": 0}
FIRST_LOAD_AT = datetime(2024, 3, 2, 1, 0, 0)
SECOND_LOAD_AT = datetime(2024, 3, 3, 1, 0, 0)
FIRST_DAY_EVENTS = 19
FUTURE_ERROR = ("expect_column_values_to_be_in_set", "is_future_dated", "error")
FUTURE_WARNING = ("expect_column_values_to_be_in_set", "is_future_dated", "warning")
LOAD = "'landing.csv', 2, timestamp '2024-03-01 00:00:00', null"


def event(message_id: str, day: str, timestamp: str | None = None) -> dict:
    return {
        "messageId": message_id,
        "type": "track",
        "event": "report_created",
        "userId": "u1",
        "groupId": "a1",
        "timestamp": timestamp or f"{day}T10:00:00Z",
        "receivedAt": f"{day}T10:00:01Z",
    }


def write_landing(landing: Path) -> Path:
    """Write 19 ordinary events dated 1 March and one event of 2 March dated five days ahead of its receipt.

    One future-dated event in 20 is 5 %, which the error expectation still allows; alone it is 100 %.
    """
    events = landing / "events"
    events.mkdir(parents=True)
    first_day = [event(f"m{i}", "2024-03-01") for i in range(FIRST_DAY_EVENTS)]
    (events / "2024-03-01.jsonl").write_text("\n".join(json.dumps(e) for e in first_day) + "\n")
    future = event("late-clock", "2024-03-02", timestamp="2024-03-07T10:00:00Z")
    (events / "2024-03-02.jsonl").write_text(json.dumps(future) + "\n")
    return landing


def reference_rows(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"insert into raw.crm_accounts values ('a1', 'Acme', null, 5, 'DE', null, timestamp '2024-01-01', {LOAD})")
    con.execute(f"insert into raw.catalog_features values ('report_created', 'Reports', true, false, false, null, {LOAD})")


def load_day(con: duckdb.DuckDBPyConnection, landing: Path, day: date, loaded_at: datetime | None = None) -> int:
    report = load_entity(con, EVENTS, landing, loaded_at=loaded_at, window=DayWindow(day, day + timedelta(days=1)))
    return report.rows_loaded


def failed(outcome) -> set[tuple[str, str, str]]:
    return {(o.expectation_type, o.column, o.severity) for o in outcome.outcomes if not o.success}


@pytest.fixture
def two_loads(tmp_path) -> Path:
    landing = write_landing(tmp_path / "landing")
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
        reference_rows(con)
        assert load_day(con, landing, date(2024, 3, 1), FIRST_LOAD_AT) == FIRST_DAY_EVENTS
        assert load_day(con, landing, date(2024, 3, 2), SECOND_LOAD_AT) == 1
    return warehouse


def validate_events(warehouse: Path, tmp_path: Path, engine: str, scope: RowScope):
    build = functools.partial(build_raw_suite, table="events")
    return run_suite(warehouse, tmp_path / "data_docs", build, f"test-{engine}", ENGINES[engine], scope)


@pytest.mark.parametrize("engine", ENGINES)
def test_scoped_validation_sees_second_load(two_loads, tmp_path, engine):
    result = validate_events(two_loads, tmp_path, engine, loaded_in_run(SECOND_LOAD_AT))

    assert result.row_count == 1
    assert result.engine == engine
    assert result.scope == "rows loaded at or after 2024-03-03 01:00:00 UTC"
    assert failed(result) == {FUTURE_ERROR, FUTURE_WARNING}
    future = [o for o in result.outcomes if (o.expectation_type, o.column, o.severity) == FUTURE_ERROR][0]
    assert future.unexpected_count == 1
    assert [row["message_id"] for row in future.sample] == ["late-clock"]


@pytest.mark.parametrize("engine", ENGINES)
def test_whole_table_validation_sees_both_loads(two_loads, tmp_path, engine):
    result = validate_events(two_loads, tmp_path, engine, RowScope())

    assert result.row_count == FIRST_DAY_EVENTS + 1
    assert result.scope == "whole table"
    assert failed(result) == {FUTURE_WARNING}, "1 future-dated event in 20 is within the 5 % error limit"


def test_scope_without_rows_validates_nothing(two_loads, tmp_path):
    result = validate_events(two_loads, tmp_path, "duckdb", loaded_in_run(SECOND_LOAD_AT + timedelta(hours=1)))

    assert result.row_count == 0
    assert result.outcomes == []
    assert result.engine == "none"


def test_scoped_run_name_in_data_docs(two_loads, tmp_path):
    validate_events(two_loads, tmp_path, "duckdb", loaded_in_run(SECOND_LOAD_AT))

    pages = [p.name for p in (tmp_path / "data_docs" / "site" / "validations").rglob("*")]
    assert any("rows loaded at or after 2024-03-03" in name for name in pages), pages


EVENT_DAYS = dg.DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-04")


def landing_assets(landing: Path) -> list[dg.AssetsDefinition]:
    """Build raw.events loaded by day with the real loader, and the two tables its references read."""

    @dg.asset(key=["raw", "events"], partitions_def=EVENT_DAYS)
    def events(context: dg.AssetExecutionContext) -> None:
        day = date.fromisoformat(context.partition_key)
        with duckdb.connect(str(load_settings().warehouse)) as con:
            load_day(con, landing, day)

    @dg.asset(key=["raw", "crm_accounts"])
    def accounts() -> None:
        with duckdb.connect(str(load_settings().warehouse)) as con:
            con.execute("delete from raw.crm_accounts")
            con.execute("delete from raw.catalog_features")
            reference_rows(con)

    @dg.asset(key=["raw", "catalog_features"], deps=[dg.AssetKey(["raw", "crm_accounts"])])
    def catalog() -> None:
        """Written with the accounts above."""

    return [events, accounts, catalog]


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_partitioned_runs_check_own_load(tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv(WAREHOUSE_ENV, str(warehouse))
    monkeypatch.setenv(DATA_DOCS_ENV, str(tmp_path / "data_docs"))
    with duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
    definitions = [*landing_assets(write_landing(tmp_path / "landing")), raw_table_check("events")]
    resources = {WAREHOUSE_RESOURCE_KEY: WarehouseResource()}

    runs = {
        day: check_evaluations(dg.materialize(definitions, partition_key=day, resources=resources, raise_on_error=False))
        for day in ("2024-03-01", "2024-03-02", "2024-03-03")
    }

    first, second, empty = runs["2024-03-01"], runs["2024-03-02"], runs["2024-03-03"]
    assert first[ERRORS_CHECK].passed
    assert first[ERRORS_CHECK].metadata["row_count"].value == FIRST_DAY_EVENTS
    assert first[ERRORS_CHECK].metadata["partitions"].value == "2024-03-01"
    assert first[ERRORS_CHECK].metadata["validated_rows"].value.startswith("rows loaded at or after")
    assert not second[ERRORS_CHECK].passed, "the second run validates its one future-dated event alone"
    assert second[ERRORS_CHECK].metadata["row_count"].value == 1
    assert empty[ERRORS_CHECK].passed
    assert empty[WARNINGS_CHECK].passed
    assert empty[ERRORS_CHECK].metadata["row_count"].value == 0
    assert "nothing validated" in empty[ERRORS_CHECK].metadata["nothing_validated"].value


# The re-executed job is rebuilt from this module, so the landing folder reaches it through the environment.
LANDING_ENV = "CSW_TEST_SCOPE_LANDING"
PARTITION_TAGS = {"dagster/partition": "2024-03-02"}


def scoped_events_job() -> dg.JobDefinition:
    assets = [*landing_assets(Path(os.environ[LANDING_ENV])), raw_table_check("events")]
    definitions = dg.Definitions(
        assets=assets[:3],
        asset_checks=assets[3:],
        resources={WAREHOUSE_RESOURCE_KEY: WarehouseResource()},
        jobs=[dg.define_asset_job("scoped_events")],
        executor=dg.in_process_executor,
    )
    return definitions.resolve_job_def("scoped_events")


def test_reexecuted_check_sees_original_load(tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv(WAREHOUSE_ENV, str(warehouse))
    monkeypatch.setenv(DATA_DOCS_ENV, str(tmp_path / "data_docs"))
    monkeypatch.setenv(LANDING_ENV, str(write_landing(tmp_path / "landing")))
    with duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
    job = dg.reconstructable(scoped_events_job)

    with dg.instance_for_test() as instance:
        with dg.execute_job(job, instance, tags=PARTITION_TAGS) as original:
            assert not original.success, "the error check fails on the lone future-dated event"
        # Only the check step runs again. execute_job's re-execution does not copy the partition tag, and
        # without it the check would validate the whole table, so the tag is passed again.
        options = dg.ReexecutionOptions.from_failure(original.run_id, instance)
        with dg.execute_job(job, instance, reexecution_options=options, tags=PARTITION_TAGS) as reexecuted:
            evaluations = {e.check_name: e for e in reexecuted.get_asset_check_evaluations()}

    assert set(evaluations) == {ERRORS_CHECK, WARNINGS_CHECK}
    assert evaluations[ERRORS_CHECK].metadata["validated_rows"].value.startswith("rows loaded at or after")
    assert evaluations[ERRORS_CHECK].metadata["row_count"].value == 1
    assert not evaluations[ERRORS_CHECK].passed
