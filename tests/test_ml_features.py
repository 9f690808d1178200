"""The feature mart ml_features.churn_features, built by real dbt runs on the small simulated warehouse.

The leakage test deletes every raw row dated after an observation date, rebuilds the feature mart
and its upstream models with dbt, and checks that the rows of that date and earlier keep every
feature and the rule-based share. Only the labels may change: their horizon is no longer over.
"""

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cs_warehouse.config import DBT_PROJECT_DIR, WAREHOUSE_ENV
from ml.features import LABEL_COLUMN

DBT = str(Path(sys.executable).parent / "dbt")
FEATURE_TABLE = "ml_features.churn_features"
KEY = ["account_id", "observation_date"]

# Raw tables and the column that dates each row; rows dated after the cut-off are deleted.
DATED_TABLES = {
    "crm_accounts": "created_at",
    "crm_contacts": "created_at",
    "crm_tickets": "created_at",
    "crm_nps_responses": "answered_at",
    "crm_cs_activities": "occurred_at",
    "billing_customers": "created_at",
    "billing_prices": "created_at",
    "billing_subscriptions": "created_at",
    "billing_subscription_events": "event_created_at",
    "billing_invoices": "created_at",
    "billing_credit_notes": "created_at",
    "billing_fx_rates": "rate_date",
    "events": "event_at",
}
# Child tables lose the rows whose parent row was deleted.
CHILD_TABLES = {
    "billing_subscription_items": ("subscription_id", "billing_subscriptions"),
    "billing_subscription_event_items": ("event_id", "billing_subscription_events"),
    "billing_invoice_lines": ("invoice_id", "billing_invoices"),
}


def run_dbt(warehouse: Path, work_dir: Path, *args: str) -> None:
    environment = {**os.environ, WAREHOUSE_ENV: str(warehouse)}
    completed = subprocess.run(
        [DBT, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")],
        env=environment, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]


def read_features(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(f"select * from {FEATURE_TABLE}").df()
    return frame.sort_values(KEY).reset_index(drop=True)


def delete_rows_after(warehouse: Path, cutoff: date) -> int:
    """Delete every raw row dated after `cutoff` (whole days, UTC) and the children of deleted rows."""
    deleted = 0
    with duckdb.connect(str(warehouse)) as con:
        for table, parent in CHILD_TABLES.items():
            key, parent_table = parent
            con.execute(
                f"delete from raw.{table} where {key} in "
                f"(select {key} from raw.{parent_table} where cast({DATED_TABLES[parent_table]} as date) > ?)",
                [cutoff],
            )
        for table, column in DATED_TABLES.items():
            before = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            con.execute(f"delete from raw.{table} where cast({column} as date) > ?", [cutoff])
            deleted += before - con.execute(f"select count(*) from raw.{table}").fetchone()[0]
    return deleted


@pytest.fixture(scope="module")
def full_features(pipeline_warehouse: Path) -> pd.DataFrame:
    return read_features(pipeline_warehouse)


def test_feature_mart_has_labelled_and_open_rows(full_features: pd.DataFrame):
    assert len(full_features) > 0
    assert full_features[LABEL_COLUMN].notna().any()
    assert full_features[LABEL_COLUMN].isna().any()
    assert not full_features.duplicated(KEY).any()
    assert (full_features["mrr"] > 0).all()
    assert (pd.to_datetime(full_features["horizon_end_date"]) > pd.to_datetime(full_features["observation_date"])).all()


def test_features_ignore_rows_after_observation_date(pipeline_warehouse: Path, full_features: pd.DataFrame,
                                                     tmp_path: Path):
    dates = sorted(full_features["observation_date"].unique())
    assert len(dates) >= 3, "the small simulated data set should give at least three observation dates"
    cutoff = dates[len(dates) // 2]

    truncated = tmp_path / "truncated.duckdb"
    shutil.copy(pipeline_warehouse, truncated)
    assert delete_rows_after(truncated, cutoff) > 0
    run_dbt(truncated, tmp_path, "run", "--select", "+churn_features")

    after = read_features(truncated)
    assert pd.to_datetime(after["observation_date"]).max() == pd.Timestamp(cutoff)
    compared = [c for c in full_features.columns if c != LABEL_COLUMN]
    before_rows = full_features[full_features["observation_date"] <= cutoff][compared].reset_index(drop=True)
    after_rows = after[after["observation_date"] <= cutoff][compared].reset_index(drop=True)
    assert len(before_rows) > 0
    pd.testing.assert_frame_equal(before_rows, after_rows, check_dtype=False)
    # The horizon of the cut-off date is no longer over, so its rows lose their labels.
    assert after.loc[after["observation_date"] == cutoff, LABEL_COLUMN].isna().all()
