"""Churn model assets: feature snapshot, training with backtest and promotion check, scoring."""

import base64
import math
from pathlib import Path

import dagster as dg
import pandas as pd

from cs_warehouse.config import load_settings
from cs_warehouse.locking import lock_for_this_process
from ml import workflow
from ml.backtest import BASELINE, OVERALL_FOLD, NotEnoughHistoryError
from ml.pipeline import Hyperparameters
from ml.plots import backtest_plot_png
from ml.store import ModelStore
from ml.training import PROMOTION_METRICS, TrainingConfig
from orchestration.resources import WAREHOUSE_POOL

GROUP = "ml"
FEATURES_KEY = dg.AssetKey(["ml_features", "churn_features"])
SNAPSHOT_KEY = dg.AssetKey(["ml", "churn_features_snapshot"])
MODEL_KEY = dg.AssetKey(["ml", "churn_model"])
BACKTEST_KEY = dg.AssetKey(["ml", "backtest_results"])
SCORES_KEY = dg.AssetKey(["ml", "churn_scores"])
PROMOTION_CHECK = "beats_rule_based_baseline"
PLOT_FILE = "backtest.png"
METRICS_SHOWN = ("roc_auc", "average_precision", "brier_score", "top_decile_lift", "base_rate", "mean_score", "rows")


class ChurnWarehouse(dg.ConfigurableResource):
    """The DuckDB file the ML assets read features from and write results to.

    Without a configured path it is read from CSW_WAREHOUSE when an asset runs, not when this module
    is imported, so one process can run the pipeline against several warehouses.
    """

    path: str | None = None

    def file(self) -> Path:
        """Return the warehouse file, after taking its lock for the rest of the run (cs_warehouse.locking)."""
        path = Path(self.path).expanduser().resolve() if self.path else load_settings().warehouse
        lock_for_this_process(path)
        return path


class ChurnModelStore(dg.ConfigurableResource):
    """The folder of model versions; without a configured root, CSW_MODEL_STORE at run time."""

    root: str | None = None

    def store(self) -> ModelStore:
        root = Path(self.root).expanduser().resolve() if self.root else load_settings().model_store
        return ModelStore(root)


# The run config's defaults are the dataclasses' own, so the two cannot drift apart.
_DEFAULT_TRAINING = TrainingConfig()
_DEFAULT_PARAMS = _DEFAULT_TRAINING.hyperparameters


class ChurnModelConfig(dg.Config):
    """Hyperparameters, seed and backtest layout of one training run."""

    model_type: str = _DEFAULT_TRAINING.model_type
    learning_rate: float = _DEFAULT_PARAMS.learning_rate
    max_iter: int = _DEFAULT_PARAMS.max_iter
    max_leaf_nodes: int = _DEFAULT_PARAMS.max_leaf_nodes
    min_samples_leaf: int = _DEFAULT_PARAMS.min_samples_leaf
    l2_regularization: float = _DEFAULT_PARAMS.l2_regularization
    early_stopping: bool = _DEFAULT_PARAMS.early_stopping
    validation_fraction: float = _DEFAULT_PARAMS.validation_fraction
    n_iter_no_change: int = _DEFAULT_PARAMS.n_iter_no_change
    logistic_c: float = _DEFAULT_PARAMS.logistic_c
    calibration_method: str = _DEFAULT_PARAMS.calibration_method
    calibration_folds: int = _DEFAULT_PARAMS.calibration_folds
    calibration_ensemble: bool = _DEFAULT_PARAMS.calibration_ensemble
    seed: int = _DEFAULT_TRAINING.seed
    n_folds: int = _DEFAULT_TRAINING.n_folds
    test_period_dates: int = _DEFAULT_TRAINING.test_period_dates
    min_training_rows: int = _DEFAULT_TRAINING.min_training_rows
    threads: int = _DEFAULT_TRAINING.threads
    tune: bool = _DEFAULT_TRAINING.tune
    tuning_sample_rows: int | None = _DEFAULT_TRAINING.tuning_sample_rows

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(
            model_type=self.model_type,
            hyperparameters=Hyperparameters(
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                early_stopping=self.early_stopping,
                validation_fraction=self.validation_fraction,
                n_iter_no_change=self.n_iter_no_change,
                logistic_c=self.logistic_c,
                calibration_method=self.calibration_method,
                calibration_folds=self.calibration_folds,
                calibration_ensemble=self.calibration_ensemble,
            ),
            seed=self.seed,
            n_folds=self.n_folds,
            test_period_dates=self.test_period_dates,
            min_training_rows=self.min_training_rows,
            threads=self.threads,
            tune=self.tune,
            tuning_sample_rows=self.tuning_sample_rows,
        )


@dg.asset(key=SNAPSHOT_KEY, deps=[FEATURES_KEY], group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def churn_features_snapshot(context: dg.AssetExecutionContext, ml_warehouse: ChurnWarehouse) -> dg.MaterializeResult:
    """Frozen copy of the feature mart that one training and scoring run reads."""
    rows = workflow.snapshot(ml_warehouse.file())
    context.log.info(f"copied {rows} feature rows to ml.churn_features_snapshot")
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(MODEL_KEY, deps=[SNAPSHOT_KEY], group_name=GROUP, kinds={"scikitlearn"},
                     description="A model version in the model store, promoted only if it beats the rule-based score."),
        dg.AssetSpec(BACKTEST_KEY, deps=[SNAPSHOT_KEY], group_name=GROUP, kinds={"duckdb"},
                     description="Backtest metrics, calibration deciles and out-of-fold predictions per version."),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            PROMOTION_CHECK,
            asset=MODEL_KEY,
            blocking=True,
            description="The new version beats the rule-based risk share on backtest ROC AUC and top-decile lift.",
        )
    ],
    pool=WAREHOUSE_POOL,
)
def churn_model(context: dg.AssetExecutionContext, config: ChurnModelConfig, ml_warehouse: ChurnWarehouse,
                churn_model_store: ChurnModelStore):
    """Backtest, train and store a churn model version, then apply the promotion rule."""
    store = churn_model_store.store()
    context.log.info(f"training a {config.model_type} model with seed {config.seed}, store {store.root}")
    try:
        result = workflow.train(ml_warehouse.file(), store, config.training_config())
    except NotEnoughHistoryError as error:
        yield from _skipped_training(context, store, str(error))
        return
    metrics = result.backtest.metrics
    predictions = result.backtest.predictions
    context.log.info(
        f"model version {result.version}: {len(result.backtest.folds)} folds, {len(predictions)} out-of-fold rows; "
        f"{result.decision.reason}"
    )

    png = backtest_plot_png(predictions, workflow.SCORERS)
    plot_path = store.save_artifact(result.version, PLOT_FILE, png)
    plot = base64.b64encode(png).decode()
    yield dg.MaterializeResult(
        asset_key=MODEL_KEY,
        metadata={
            "model_version": result.version,
            "promoted": result.decision.promoted,
            "promoted_version": str(result.promoted_version),
            "promotion_reason": result.decision.reason,
            "overall_metrics": metrics_table(metrics[metrics["fold"] == OVERALL_FOLD]),
            "backtest_plot": dg.MetadataValue.md(f"![ROC and calibration](data:image/png;base64,{plot})"),
            "model_card": dg.MetadataValue.json(result.card),
            "model_folder": dg.MetadataValue.path(str(store.root / result.version)),
            "backtest_plot_file": dg.MetadataValue.path(str(plot_path)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=BACKTEST_KEY,
        metadata={
            "dagster/row_count": len(metrics),
            "model_version": result.version,
            "metrics_per_fold": metrics_table(metrics),
        },
    )
    yield dg.AssetCheckResult(
        check_name=PROMOTION_CHECK,
        asset_key=MODEL_KEY,
        passed=result.decision.promoted,
        severity=dg.AssetCheckSeverity.ERROR,
        description=result.decision.reason,
        metadata={
            **{f"candidate_{m}": _finite(result.decision.candidate[m]) for m in PROMOTION_METRICS},
            **{f"{BASELINE}_{m}": _finite(result.decision.baseline[m]) for m in PROMOTION_METRICS},
            "scoring_version": str(result.promoted_version),
        },
    )


@dg.asset(key=SCORES_KEY, deps=[MODEL_KEY, SNAPSHOT_KEY], group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def churn_scores(context: dg.AssetExecutionContext, ml_warehouse: ChurnWarehouse,
                 churn_model_store: ChurnModelStore) -> dg.MaterializeResult:
    """Churn probability, risk tier and top drivers of each account, from the promoted model version."""
    result = workflow.score_promoted(ml_warehouse.file(), churn_model_store.store())
    if result.model_version is None:
        context.log.warning(result.message)
    else:
        context.log.info(result.message)
    scores = result.scores
    metadata: dict[str, object] = {
        "dagster/row_count": len(scores),
        "model_version": str(result.model_version),
        "message": result.message,
    }
    if len(scores):
        metadata["mean_probability"] = float(scores["churn_probability"].mean())
        metadata["risk_tiers"] = dg.MetadataValue.json(scores["risk_tier"].value_counts().to_dict())
        metadata["as_of_dates"] = dg.MetadataValue.json(sorted(str(d) for d in scores["as_of_date"].unique()))
    return dg.MaterializeResult(metadata=metadata)


def _skipped_training(context: dg.AssetExecutionContext, store: ModelStore, reason: str):
    """Report a run that trained nothing because the history is too short for a backtest.

    The check fails with WARN severity, so it blocks nothing: the promoted version, if any, keeps
    scoring, and a young warehouse still builds its other assets.
    """
    promoted = store.promoted_version()
    context.log.warning(f"no model trained: {reason}; version {promoted} keeps scoring")
    metadata = {"model_version": "none", "promoted_version": str(promoted), "skipped_reason": reason}
    yield dg.MaterializeResult(asset_key=MODEL_KEY, metadata=metadata)
    yield dg.MaterializeResult(asset_key=BACKTEST_KEY, metadata={**metadata, "dagster/row_count": 0})
    yield dg.AssetCheckResult(
        check_name=PROMOTION_CHECK,
        asset_key=MODEL_KEY,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"no model trained: {reason}",
        metadata={"scoring_version": str(promoted)},
    )


def metrics_table(metrics: pd.DataFrame) -> dg.TableMetadataValue:
    """Return one row per fold and scorer with the metrics as columns."""
    wide = metrics.pivot_table(index=["fold", "scorer"], columns="metric", values="value", aggfunc="first",
                               dropna=False).reset_index()
    columns = [c for c in METRICS_SHOWN if c in wide.columns]
    records = [
        dg.TableRecord({"fold": str(row["fold"]), "scorer": str(row["scorer"]),
                        **{c: _finite(row[c]) for c in columns}})
        for _, row in wide.iterrows()
    ]
    schema = dg.TableSchema(
        columns=[dg.TableColumn("fold", "string"), dg.TableColumn("scorer", "string"),
                 *[dg.TableColumn(c, "float") for c in columns]]
    )
    return dg.MetadataValue.table(records=records, schema=schema)


def _finite(value: float) -> float | None:
    """Return `value` rounded for display, or None for NaN (a fold with one class has no AUC)."""
    return None if value is None or math.isnan(value) else round(float(value), 4)


defs = dg.Definitions(
    assets=[churn_features_snapshot, churn_model, churn_scores],
    resources={"ml_warehouse": ChurnWarehouse(), "churn_model_store": ChurnModelStore()},
)
