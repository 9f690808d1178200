"""The ML Dagster assets, materialized for real on a DuckDB file holding a synthetic feature mart.

The feature table has the columns of ml_features.churn_features, so these tests need no dbt run.
"""

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, PER_FEATURE_PREFIX
from ml.store import ModelStore
from orchestration.assets.ml import (
    PROMOTION_CHECK,
    ChurnModelStore,
    ChurnWarehouse,
    churn_features_snapshot,
    churn_model,
    churn_scores,
    defs,
)

SCORE_COLUMNS = [
    ("account_id", "VARCHAR"),
    ("as_of_date", "DATE"),
    ("model_version", "VARCHAR"),
    ("churn_probability", "DOUBLE"),
    ("risk_tier", "VARCHAR"),
    ("driver_1", "VARCHAR"),
    ("driver_1_contribution", "DOUBLE"),
    ("driver_2", "VARCHAR"),
    ("driver_2_contribution", "DOUBLE"),
    ("driver_3", "VARCHAR"),
    ("driver_3_contribution", "DOUBLE"),
    ("scored_at", "TIMESTAMP"),
]
FAST_CONFIG = {"max_iter": 40, "min_samples_leaf": 20, "n_folds": 2, "test_period_dates": 2, "min_training_rows": 80}


def feature_frame(seed: int, signal: bool, accounts: int = 100, months: int = 12) -> pd.DataFrame:
    """Month-end observations whose churn follows a hidden value that the rule-based share is computed from.

    With `signal`, days_since_last_event is that hidden value, so the model can beat the baseline.
    Without it, every feature is noise and the baseline wins.
    """
    rng = np.random.default_rng(seed)
    month_ends = pd.date_range("2024-01-31", periods=months, freq="ME")
    frames = []
    for month_end in month_ends:
        frame = pd.DataFrame({name: rng.normal(size=accounts) for name in NUMERIC_FEATURES})
        frame[f"{PER_FEATURE_PREFIX}reports"] = rng.poisson(2, size=accounts).astype(float)
        for name in CATEGORICAL_FEATURES:
            frame[name] = rng.choice(["a", "b"], size=accounts)
        hidden = rng.normal(size=accounts)
        if signal:
            frame["days_since_last_event"] = hidden
        frame.insert(0, "account_id", [f"acc_{i:03d}" for i in range(accounts)])
        frame.insert(1, "observation_date", month_end.date())
        horizon_end = month_end + pd.offsets.MonthEnd(3)
        frame.insert(2, "horizon_end_date", horizon_end.date())
        labels = (rng.random(accounts) < 1 / (1 + np.exp(1.8 - 2.0 * hidden))).astype(float)
        frame.insert(3, "churned_within_horizon", labels if horizon_end <= month_ends[-1] else np.nan)
        # A coarse and noisy reading of the hidden value: eight levels, like the seven-signal share.
        share = np.clip(np.round((0.35 + 0.12 * hidden + 0.15 * rng.normal(size=accounts)) * 7), 0, 7) / 7
        frame.insert(4, "rule_based_risk_share", share)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_feature_mart(warehouse: Path, frame: pd.DataFrame) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists ml_features")
        con.register("features", frame)
        con.execute("create or replace table ml_features.churn_features as select * from features")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("ml_assets")
    warehouse, store = root / "warehouse.duckdb", root / "model_store"
    write_feature_mart(warehouse, feature_frame(seed=1, signal=True))
    result = dg.materialize(
        [churn_features_snapshot, churn_model, churn_scores],
        resources={"ml_warehouse": ChurnWarehouse(path=str(warehouse)),
                   "churn_model_store": ChurnModelStore(root=str(store))},
        run_config={"ops": {"churn_model": {"config": FAST_CONFIG}}},
    )
    return warehouse, store, result


def test_definitions_expose_ml_assets():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"ml/churn_features_snapshot", "ml/churn_model", "ml/backtest_results", "ml/churn_scores"} <= keys


def test_good_model_is_promoted_and_scores(first_run):
    warehouse, store, result = first_run
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(PROMOTION_CHECK, True)]

    promoted = ModelStore(store).promoted_version()
    assert promoted is not None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        versions = con.execute("select distinct model_version from ml.churn_scores").fetchall()
        rows = con.execute("select count(*) from ml.churn_scores").fetchone()[0]
        open_rows = con.execute(
            "select count(*) from ml_features.churn_features where churned_within_horizon is null"
        ).fetchone()[0]
    assert versions == [(promoted,)]
    assert rows == open_rows


def test_scores_table_matches_interface(first_run):
    warehouse, _, _ = first_run
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'ml' and table_name = 'churn_scores' order by ordinal_position"
        ).fetchall()
        probabilities = con.execute(
            "select min(churn_probability), max(churn_probability) from ml.churn_scores"
        ).fetchone()
        tiers = {row[0] for row in con.execute("select distinct risk_tier from ml.churn_scores").fetchall()}
    assert columns == SCORE_COLUMNS
    assert 0.0 <= probabilities[0] <= probabilities[1] <= 1.0
    assert tiers <= {"high", "medium", "low"}


def test_backtest_results_written(first_run):
    warehouse, store, _ = first_run
    version = ModelStore(store).promoted_version()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        scorers = {row[0] for row in con.execute(
            "select distinct scorer from ml.backtest_results where model_version = ? and fold = 'overall'", [version]
        ).fetchall()}
        bins = con.execute(
            "select count(*) from ml.backtest_calibration where model_version = ? and scorer = 'gradient_boosting'",
            [version],
        ).fetchone()[0]
    assert scorers == {"gradient_boosting", "logistic_regression", "rule_based"}
    assert bins == 10


def test_model_metadata_has_plot_and_metrics(first_run):
    _, _, result = first_run
    materializations = {
        m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()
    }
    metadata = materializations["ml/churn_model"].materialization.metadata
    assert metadata["backtest_plot"].value.startswith("![ROC and calibration](data:image/png;base64,")
    assert len(metadata["overall_metrics"].value.records) == 3
    assert metadata["promoted"].value is True
    assert Path(metadata["backtest_plot_file"].value).read_bytes().startswith(b"\x89PNG")


def test_worse_model_blocks_and_current_version_scores(first_run, tmp_path: Path):
    warehouse, store, _ = first_run
    before = ModelStore(store).promoted_version()
    noisy = tmp_path / "noisy.duckdb"
    write_feature_mart(noisy, feature_frame(seed=2, signal=False))

    result = dg.materialize(
        [churn_features_snapshot, churn_model, churn_scores],
        resources={"ml_warehouse": ChurnWarehouse(path=str(noisy)),
                   "churn_model_store": ChurnModelStore(root=str(store))},
        run_config={"ops": {"churn_model": {"config": FAST_CONFIG}}},
        raise_on_error=False,
    )
    assert not result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(PROMOTION_CHECK, False)]
    assert ModelStore(store).promoted_version() == before
    assert len(ModelStore(store).versions()) == 2

    # Scoring on its own still uses the promoted version, never the rejected one.
    scored = dg.materialize(
        [churn_scores],
        resources={"ml_warehouse": ChurnWarehouse(path=str(noisy)),
                   "churn_model_store": ChurnModelStore(root=str(store))},
    )
    assert scored.success
    with duckdb.connect(str(noisy), read_only=True) as con:
        versions = con.execute("select distinct model_version from ml.churn_scores").fetchall()
    assert versions == [(before,)]


def test_scoring_without_promoted_version_writes_no_rows(tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_feature_mart(warehouse, feature_frame(seed=3, signal=True, months=6))
    result = dg.materialize(
        [churn_features_snapshot, churn_scores],
        resources={"ml_warehouse": ChurnWarehouse(path=str(warehouse)),
                   "churn_model_store": ChurnModelStore(root=str(tmp_path / "empty_store"))},
    )
    assert result.success
    metadata = result.get_asset_materialization_events()[-1].materialization.metadata
    assert metadata["dagster/row_count"].value == 0
    assert "no promoted model version" in metadata["message"].value
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from ml.churn_scores").fetchone()[0] == 0


def test_short_history_warns_without_blocking(tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_feature_mart(warehouse, feature_frame(seed=4, signal=True, months=6))
    result = dg.materialize(
        [churn_features_snapshot, churn_model, churn_scores],
        resources={"ml_warehouse": ChurnWarehouse(path=str(warehouse)),
                   "churn_model_store": ChurnModelStore(root=str(tmp_path / "store"))},
        run_config={"ops": {"churn_model": {"config": FAST_CONFIG}}},
    )
    assert result.success
    check = result.get_asset_check_evaluations()[0]
    assert check.passed is False
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert "no usable fold" in check.description
    assert ModelStore(tmp_path / "store").versions() == []
