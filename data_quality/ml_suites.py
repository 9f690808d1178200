"""Expectation suites of the churn model's feature matrix and of its scores.

The feature mart's column names come from ml/features.py, so a renamed feature shows up here as a
missing column. Features that are undefined for some accounts (no NPS response yet, no ticket rated,
no event ever) are NULL by design, and the model imputes them. Counts and amounts are never NULL.
"""

from __future__ import annotations

import duckdb
import great_expectations as gx

from data_quality.suites import ERROR, WARNING, Suite, add, new_suite
from ml import features

SCORES_TABLE = "ml.churn_scores"
SCORES_KEY = ("account_id", "as_of_date", "model_version")
RISK_TIERS = ("high", "medium", "low")

# Counts over a window: zero when nothing happened, never NULL and never negative.
COUNT_FEATURES: tuple[str, ...] = (
    "events_30d",
    "events_prev_30d",
    "active_days_30d",
    "active_users_30d",
    "features_used_30d",
    "premium_features_used_30d",
    "tickets_30d",
    "tickets_90d",
    "urgent_tickets_90d",
    "open_tickets",
    "cs_touches_90d",
    "competitor_mentions_90d",
    "champion_left_90d",
    "active_champions",
    "invoices_overdue",
)
NON_NEGATIVE_FEATURES: tuple[str, ...] = ("mrr", "seats", "tenure_days", "employee_count", "days_past_due_max")
# Closed ranges taken from each feature's definition: a 30-day window has at most 30 active days,
# NPS scores are 0-10 and CSAT ratings 1-5.
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "active_days_30d": (0, 30),
    "nps_latest": (0, 10),
    "csat_avg_180d": (1, 5),
    features.BASELINE_COLUMN: (0, 1),
}


def _feature_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    schema, table = features.FEATURE_TABLE.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [row[0] for row in rows]


def build_features_suite(con: duckdb.DuckDBPyConnection) -> Suite:
    """Build the suite of ml_features.churn_features, one row per account per observation date."""
    key = (features.ACCOUNT_COLUMN, features.OBSERVATION_DATE_COLUMN)
    suite = new_suite(features.FEATURE_TABLE, features.FEATURE_TABLE, features.FEATURE_TABLE.split("."), key)
    # No scores is a warning: before any version is promoted, the score-driven dbt models fall back to
    # the rule-based risk share, and the rest of the warehouse is still valid.
    add(suite, gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, severity=WARNING))

    required = (*key, features.HORIZON_END_COLUMN, features.BASELINE_COLUMN, *features.NUMERIC_FEATURES,
                *features.CATEGORICAL_FEATURES)
    for name in required:
        add(suite, gx.expectations.ExpectColumnToExist(column=name, severity=ERROR))
    for name in (*key, features.HORIZON_END_COLUMN):
        add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column=name, severity=ERROR))
    add(suite, gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(key), severity=ERROR))

    per_feature = features.per_feature_columns(_feature_columns(con))
    for name in (*COUNT_FEATURES, *per_feature):
        add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column=name, severity=ERROR))
        add(suite, gx.expectations.ExpectColumnValuesToBeBetween(column=name, min_value=0, severity=ERROR))
    for name in NON_NEGATIVE_FEATURES:
        add(suite, gx.expectations.ExpectColumnValuesToBeBetween(column=name, min_value=0, severity=ERROR))
    for name, (low, high) in FEATURE_RANGES.items():
        add(
            suite,
            gx.expectations.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high, severity=ERROR),
        )
    # The model treats a missing category as its own level, so NULLs only degrade the fit.
    for name in features.CATEGORICAL_FEATURES:
        add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column=name, mostly=0.9, severity=WARNING))
    add(
        suite,
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=features.LABEL_COLUMN, value_set=[0, 1, False, True], severity=ERROR
        ),
    )
    return suite


def build_scores_suite(con: duckdb.DuckDBPyConnection) -> Suite:
    """Build the suite of ml.churn_scores: calibrated probabilities, one row per account and as-of date."""
    del con  # the scores suite needs no values from the warehouse
    suite = new_suite(SCORES_TABLE, SCORES_TABLE, SCORES_TABLE.split("."), SCORES_KEY)
    # No scores is a warning: before any version is promoted, the score-driven dbt models fall back to
    # the rule-based risk share, and the rest of the warehouse is still valid.
    add(suite, gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, severity=WARNING))
    for name in (*SCORES_KEY, "churn_probability", "risk_tier", "scored_at"):
        add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column=name, severity=ERROR))
    add(suite, gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(SCORES_KEY), severity=ERROR))
    add(
        suite,
        gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=["account_id", "as_of_date"], severity=ERROR),
    )
    add(
        suite,
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="churn_probability", min_value=0, max_value=1, severity=ERROR
        ),
    )
    add(suite, gx.expectations.ExpectColumnValuesToBeInSet(column="risk_tier", value_set=list(RISK_TIERS),
                                                           severity=ERROR))
    # A driver is missing only when the model has fewer than three features with an effect.
    for rank in (1, 2, 3):
        add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column=f"driver_{rank}", severity=WARNING))
    return suite
