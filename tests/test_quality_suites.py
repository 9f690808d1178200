"""Great Expectations suites on small hand-made raw tables, with both validation engines."""

import functools
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.raw_schema import create_raw_schema
from data_quality.gx_project import open_context, prune_validation_results
from data_quality.outcomes import SuiteOutcome
from data_quality.results_table import RESULTS_TABLE
from data_quality.runner import run_suite
from data_quality.suites import build_raw_suite

# pandas_max_rows per engine: 0 sends every table to the DuckDB engine.
ENGINES = {"pandas": 1_000_000, "duckdb": 0}
LOAD = "'accounts.csv', 2, timestamp '2024-07-01 00:00:00', null"


def make_warehouse(path: Path, statements: list[str]) -> Path:
    with duckdb.connect(str(path)) as con:
        create_raw_schema(con)
        for statement in statements:
            con.execute(statement)
    return path


def validate(warehouse: Path, tmp_path: Path, table: str, engine: str) -> SuiteOutcome:
    return run_suite(
        warehouse,
        tmp_path / "data_docs",
        functools.partial(build_raw_suite, table=table),
        run_id=f"test-{engine}",
        pandas_max_rows=ENGINES[engine],
    )


def outcome(result: SuiteOutcome, expectation_type: str, column: str):
    matches = [o for o in result.outcomes if o.expectation_type == expectation_type and o.column == column]
    assert len(matches) == 1, f"expected one {expectation_type} on {column}, found {len(matches)}"
    return matches[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_row_count_three_rows(tmp_path, engine):
    warehouse = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "insert into raw.crm_csms values "
            f"('c1', 'Ann', 'east', {LOAD}), ('c2', 'Bo', 'west', {LOAD}), ('c3', 'Cy', 'west', {LOAD})"
        ],
    )

    result = validate(warehouse, tmp_path, "crm_csms", engine)

    row_count = outcome(result, "expect_table_row_count_to_be_between", None)
    assert row_count.observed_value == 3
    assert row_count.success
    assert result.engine == engine


@pytest.mark.parametrize("engine", ENGINES)
def test_null_passes_allowed_values_but_not_null_check(tmp_path, engine):
    warehouse = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"insert into raw.crm_accounts values ('a1', 'Acme', null, 5, 'DE', null, timestamp '2024-01-01', {LOAD})",
            "insert into raw.crm_cs_activities values "
            f"('act1', 'a1', null, 'call', timestamp '2024-02-01', false, {LOAD}), "
            f"('act2', 'a1', null, null, timestamp '2024-02-02', false, {LOAD})",
        ],
    )

    result = validate(warehouse, tmp_path, "crm_cs_activities", engine)

    in_set = outcome(result, "expect_column_values_to_be_in_set", "activity_type")
    not_null = outcome(result, "expect_column_values_to_not_be_null", "activity_type")
    assert in_set.success, "GE skips NULLs in value-set expectations"
    assert not not_null.success
    assert not_null.unexpected_count == 1
    assert not_null.severity == "error"
    assert any(row.get("activity_id") == "act2" for row in not_null.sample)


@pytest.mark.parametrize("engine", ENGINES)
def test_broken_accounts_fail_expectations(tmp_path, engine):
    warehouse = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"insert into raw.crm_csms values ('c1', 'Ann', 'east', {LOAD})",
            "insert into raw.crm_accounts values "
            f"('a1', 'Acme', null, 5, 'DE', 'c1', timestamp '2024-01-01', {LOAD}), "
            f"('a2', 'Beta', null, -3, 'FR', 'c9', timestamp '2031-01-01', {LOAD}), "
            f"('a2', 'Beta copy', null, 7, 'FR', 'c1', timestamp '2024-03-01', {LOAD})",
        ],
    )

    result = validate(warehouse, tmp_path, "crm_accounts", engine)

    failed = {(o.expectation_type, o.column, o.severity) for o in result.outcomes if not o.success}
    assert failed == {
        ("expect_column_values_to_be_unique", "account_id", "error"),
        ("expect_column_values_to_be_between", "employee_count", "error"),
        ("expect_column_values_to_be_in_set", "owner_csm_id", "warning"),
        ("expect_column_values_to_be_between", "created_at", "warning"),
    }
    duplicates = outcome(result, "expect_column_values_to_be_unique", "account_id")
    assert duplicates.unexpected_count == 2
    orphan = outcome(result, "expect_column_values_to_be_in_set", "owner_csm_id")
    assert orphan.sample == [{"account_id": "a2", "owner_csm_id": "c9"}]
    assert orphan.kwargs["meta"]["references"] == "raw.crm_csms.csm_id"


def test_wrong_column_type_fails(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.crm_csms (csm_id bigint, name varchar, team varchar, _source_file varchar, "
            "_source_line bigint, _loaded_at timestamp, _extra varchar)"
        )
        con.execute(f"insert into raw.crm_csms values (1, 'Ann', 'east', {LOAD})")

    for engine in ENGINES:
        result = validate(warehouse, tmp_path, "crm_csms", engine)
        type_check = outcome(result, "expect_column_values_to_be_in_type_list", "csm_id")
        assert not type_check.success, engine


def test_results_table_and_data_docs_written(tmp_path):
    warehouse = make_warehouse(tmp_path / "w.duckdb", [f"insert into raw.crm_csms values ('c1', 'Ann', 'east', {LOAD})"])

    result = validate(warehouse, tmp_path, "crm_csms", "pandas")

    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute(
            f"select suite, asset_key, severity, success from {RESULTS_TABLE} where run_id = 'test-pandas'"
        ).fetchall()
    assert len(rows) == len(result.outcomes)
    assert {row[0] for row in rows} == {"raw.crm_csms"}
    assert {row[1] for row in rows} == {"raw/crm_csms"}
    assert all(row[3] for row in rows)
    assert (tmp_path / "data_docs" / "site" / "index.html").is_file()
    assert list((tmp_path / "data_docs" / "site" / "validations").rglob("*.html"))


@pytest.mark.parametrize("engine", ENGINES)
def test_nullable_columns_pass_type_check(tmp_path, engine):
    warehouse = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"insert into raw.crm_accounts values ('a1', 'Acme', null, null, 'DE', null, timestamp '2024-01-01', {LOAD})",
            "insert into raw.crm_tickets values "
            f"('t1', 'a1', timestamp '2024-02-01', null, null, 'low', 'open', null, null, {LOAD}), "
            f"('t2', 'a1', timestamp '2024-02-02', null, null, 'low', 'open', null, 4, {LOAD})",
            "insert into raw.crm_contacts values "
            f"('p1', 'a1', null, null, true, null, null, {LOAD}), ('p2', 'a1', null, null, null, null, null, {LOAD})",
        ],
    )

    for table in ("crm_tickets", "crm_contacts"):
        result = validate(warehouse, tmp_path, table, engine)
        failed_types = [o.column for o in result.outcomes
                        if o.expectation_type == "expect_column_values_to_be_in_type_list" and not o.success]
        assert failed_types == [], table


def test_old_validation_results_pruned(tmp_path):
    warehouse = make_warehouse(tmp_path / "w.duckdb", [f"insert into raw.crm_csms values ('c1', 'Ann', 'east', {LOAD})"])
    build = functools.partial(build_raw_suite, table="crm_csms")

    for run in range(4):
        run_suite(warehouse, tmp_path / "data_docs", build, run_id=f"run-{run}")
    context = open_context(tmp_path / "data_docs")
    removed = prune_validation_results(context, "raw.crm_csms", keep=2)

    assert removed == 2
    kept = sorted(key.run_id.run_name for key in context.validation_results_store.list_keys())
    assert kept == ["run-2", "run-3"]
