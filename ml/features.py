"""Columns of the feature mart ml_features.churn_features that the churn model reads.

The dbt model dbt_project/models/ml/churn_features.sql builds these columns; its YAML documents each one.
Per-feature use columns are generated from the feature catalog, so their names are found by prefix.
"""

from __future__ import annotations

import pandas as pd

from cs_warehouse.errors import CswError

FEATURE_TABLE = "ml_features.churn_features"

ACCOUNT_COLUMN = "account_id"
OBSERVATION_DATE_COLUMN = "observation_date"
HORIZON_END_COLUMN = "horizon_end_date"
LABEL_COLUMN = "churned_within_horizon"
BASELINE_COLUMN = "rule_based_risk_share"

NUMERIC_FEATURES: tuple[str, ...] = (
    "mrr",
    "mrr_change_3m",
    "tenure_days",
    "seats",
    "employee_count",
    "events_30d",
    "events_prev_30d",
    "events_trend_30d",
    "active_days_30d",
    "active_users_30d",
    "active_users_per_seat",
    "days_since_last_event",
    "features_used_30d",
    "feature_breadth_30d",
    "premium_features_used_30d",
    "tickets_30d",
    "tickets_90d",
    "urgent_tickets_90d",
    "open_tickets",
    "csat_avg_180d",
    "nps_latest",
    "days_since_nps",
    "cs_touches_90d",
    "days_since_cs_touch",
    "competitor_mentions_90d",
    "champion_left_90d",
    "active_champions",
    "invoices_overdue",
    "days_past_due_max",
    "is_cancel_scheduled",
    "days_to_period_end",
    "health_score",
    "health_usage",
    "health_engagement",
    "health_satisfaction",
    "health_growth",
    "health_relationship",
)

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "plan_tier",
    "billing_interval",
    "subscription_status",
    "industry",
)

# Prefix of the per-feature use columns: events of one catalog feature in the 30 days up to the date.
PER_FEATURE_PREFIX = "feature_events_30d__"


def per_feature_columns(columns: pd.Index | list[str]) -> tuple[str, ...]:
    """Return the per-feature use columns among `columns`, sorted so the matrix layout is stable."""
    return tuple(sorted(c for c in columns if str(c).startswith(PER_FEATURE_PREFIX)))


def model_feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return the (numeric, categorical) feature columns of `frame`; raise if a fixed column is missing."""
    required = (ACCOUNT_COLUMN, OBSERVATION_DATE_COLUMN, HORIZON_END_COLUMN, LABEL_COLUMN, BASELINE_COLUMN,
                *NUMERIC_FEATURES, *CATEGORICAL_FEATURES)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise CswError(
            f"{FEATURE_TABLE} is missing the columns {missing}: rebuild the feature mart with "
            "`dbt build --select churn_features` so it matches ml/features.py"
        )
    numeric = [*NUMERIC_FEATURES, *per_feature_columns(frame.columns)]
    return numeric, list(CATEGORICAL_FEATURES)
