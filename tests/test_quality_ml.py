"""Suites of the churn feature matrix and scores on small hand-made tables."""

import duckdb
import pytest

from cs_warehouse.errors import CswError
from data_quality import ml_suites
from data_quality.runner import run_suite
from ml import features

SCORES_DDL = """
create table ml.churn_scores (
    account_id varchar, as_of_date date, model_version varchar, churn_probability double, risk_tier varchar,
    driver_1 varchar, driver_1_contribution double, driver_2 varchar, driver_2_contribution double,
    driver_3 varchar, driver_3_contribution double, scored_at timestamp
)
"""


def failed(outcome) -> set[tuple[str, str | None, str]]:
    return {(o.expectation_type, o.column, o.severity) for o in outcome.outcomes if not o.success}


def test_scores_suite_catches_bad_scores(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ml")
        con.execute(SCORES_DDL)
        con.execute(
            "insert into ml.churn_scores values "
            "('a1', date '2024-06-30', 'v1', 0.2, 'low', 'mrr', 0.1, 'events_30d', 0.05, null, null, now()), "
            "('a2', date '2024-06-30', 'v1', 1.2, 'extreme', 'mrr', 0.3, 'nps_latest', 0.2, 'seats', 0.1, now()), "
            "('a2', date '2024-06-30', 'v2', 0.7, 'high', 'mrr', 0.3, 'nps_latest', 0.2, 'seats', 0.1, now())"
        )

    outcome = run_suite(warehouse, tmp_path / "docs", ml_suites.build_scores_suite, run_id="scores")

    assert failed(outcome) == {
        ("expect_column_values_to_be_between", "churn_probability", "error"),
        ("expect_column_values_to_be_in_set", "risk_tier", "error"),
        ("expect_compound_columns_to_be_unique", "account_id,as_of_date", "error"),
        ("expect_column_values_to_not_be_null", "driver_3", "warning"),
    }


def test_features_suite_catches_null_count(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    numeric = {name: "1.0" for name in features.NUMERIC_FEATURES}
    numeric["events_30d"] = "null"  # a count is never NULL: zero events is 0
    numeric["nps_latest"] = "null"  # undefined without an NPS response, so allowed
    categorical = {name: "'x'" for name in features.CATEGORICAL_FEATURES}
    columns = {
        features.ACCOUNT_COLUMN: "'a1'",
        features.OBSERVATION_DATE_COLUMN: "date '2024-06-30'",
        features.HORIZON_END_COLUMN: "date '2024-09-28'",
        features.LABEL_COLUMN: "0",
        features.BASELINE_COLUMN: "0.4",
        **numeric,
        **categorical,
        f"{features.PER_FEATURE_PREFIX}reports": "-2",
    }
    select_list = ", ".join(f"{value} as {name}" for name, value in columns.items())
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ml_features")
        con.execute(f"create table ml_features.churn_features as select {select_list}")

    outcome = run_suite(warehouse, tmp_path / "docs", ml_suites.build_features_suite, run_id="features")

    assert failed(outcome) == {
        ("expect_column_values_to_not_be_null", "events_30d", "error"),
        ("expect_column_values_to_be_between", f"{features.PER_FEATURE_PREFIX}reports", "error"),
    }


def test_missing_table_raises_clear_error(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()

    with pytest.raises(CswError, match="churn_scores"):
        run_suite(warehouse, tmp_path / "docs", ml_suites.build_scores_suite, run_id="missing")
