"""Every error-severity expectation passes on the simulated pipeline's warehouse."""

import functools
import shutil

import duckdb
import pytest

from data_quality import ml_suites
from data_quality.runner import run_suite
from data_quality.suites import build_raw_suite, raw_table_names
from ml import features


@pytest.fixture
def warehouse_copy(pipeline_warehouse, tmp_path):
    # Validation writes its results table, so it runs on a copy of the shared session warehouse.
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(pipeline_warehouse, copy)
    return copy


def table_exists(warehouse, qualified_name: str) -> bool:
    schema, table = qualified_name.split(".")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()
    return row[0] == 1


def error_failures(outcome) -> list[str]:
    return [f"{o.expectation_type} {o.column}: {o.observed_value or o.unexpected_count} {o.sample} {o.exception or ''}"
            for o in outcome.failures("error")]


@pytest.mark.parametrize("table", raw_table_names())
def test_raw_errors_pass_on_simulated_data(warehouse_copy, tmp_path, table):
    outcome = run_suite(
        warehouse_copy, tmp_path / "docs", functools.partial(build_raw_suite, table=table), run_id="simulated"
    )

    assert error_failures(outcome) == []


@pytest.mark.parametrize(
    ("table", "build_suite"),
    [(features.FEATURE_TABLE, ml_suites.build_features_suite), (ml_suites.SCORES_TABLE, ml_suites.build_scores_suite)],
)
def test_ml_errors_pass_on_simulated_data(warehouse_copy, tmp_path, table, build_suite):
    if not table_exists(warehouse_copy, table):
        pytest.skip(f"the pipeline warehouse has no {table}")

    outcome = run_suite(warehouse_copy, tmp_path / "docs", build_suite, run_id="simulated")

    assert error_failures(outcome) == []
