"""Train a churn model version: backtest, fit on every labelled row, write it to the store, apply the promotion rule."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cs_warehouse.config import PROJECT_ROOT
from ml.backtest import BASELINE, OVERALL_FOLD, BacktestResult, labelled_rows, run_backtest
from ml.drivers import DriverExplainer
from ml.features import LABEL_COLUMN, OBSERVATION_DATE_COLUMN, model_feature_columns
from ml.pipeline import MODEL_TYPES, Hyperparameters, build_driver_model, build_model
from ml.store import ModelStore
from ml.tuning import TUNING_SAMPLE_ROWS, select_hyperparameters

LOGGER = logging.getLogger(__name__)

PROMOTION_METRICS = ("roc_auc", "top_decile_lift")
LIBRARIES = ("scikit-learn", "numpy", "pandas", "joblib", "duckdb")
PACKAGE_NAME = "cs-warehouse"


@dataclass(frozen=True)
class TrainingConfig:
    """Model type, hyperparameters, seed and backtest layout of one training run."""

    model_type: str = "gradient_boosting"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    seed: int = 7
    n_folds: int = 4
    # Consecutive observation dates (months) per test period.
    test_period_dates: int = 3
    min_training_rows: int = 100
    # Native threads (OpenMP, BLAS) per fit. One is the default because these matrices are small and
    # idle OpenMP threads spin. On a busy 2-core machine, training on a 1,680-row frame took 79 s
    # with the default thread count and 6 s with one thread (scratch timing, scikit-learn 1.9.1).
    threads: int = 1
    # Choose the classifier settings from ml/tuning.py's grid on an inner time-ordered split of each
    # training window. False uses `hyperparameters` as given.
    tune: bool = True
    # Windows with more labelled rows than this are tuned on a seeded sample of whole accounts (the
    # `seed` above) containing at least this many rows. The fits that follow use every row. None tunes
    # on every row whatever the size.
    tuning_sample_rows: int | None = TUNING_SAMPLE_ROWS

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"unknown model type {self.model_type!r}, expected one of {MODEL_TYPES}")
        if self.tuning_sample_rows is not None and self.tuning_sample_rows < 1:
            raise ValueError(f"tuning_sample_rows must be a positive row count or None, got {self.tuning_sample_rows}")


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    reason: str
    candidate: dict[str, float]
    baseline: dict[str, float]


@dataclass(frozen=True)
class TrainingResult:
    version: str
    card: dict[str, Any]
    backtest: BacktestResult
    decision: PromotionDecision
    promoted_version: str | None


def decide_promotion(metrics: pd.DataFrame, model_type: str) -> PromotionDecision:
    """Promote only if the candidate beats the rule-based score on overall backtest ROC AUC and top-decile lift."""
    overall = metrics[metrics["fold"] == OVERALL_FOLD]
    candidate = {m: _metric(overall, model_type, m) for m in PROMOTION_METRICS}
    baseline = {m: _metric(overall, BASELINE, m) for m in PROMOTION_METRICS}

    failures = []
    for metric in PROMOTION_METRICS:
        if math.isnan(candidate[metric]) or not candidate[metric] > baseline[metric]:
            failures.append(f"{metric} {candidate[metric]:.4f} does not beat the rule-based {baseline[metric]:.4f}")
    if failures:
        return PromotionDecision(False, "not promoted: " + "; ".join(failures), candidate, baseline)
    summary = ", ".join(f"{m} {candidate[m]:.4f} > {baseline[m]:.4f}" for m in PROMOTION_METRICS)
    return PromotionDecision(True, f"promoted: {summary}", candidate, baseline)


def _metric(overall: pd.DataFrame, scorer: str, metric: str) -> float:
    values = overall.loc[(overall["scorer"] == scorer) & (overall["metric"] == metric), "value"]
    return float(values.iloc[0]) if len(values) else math.nan


def _json_number(value: float) -> float | None:
    """Return `value`, or None for NaN, which JSON cannot carry."""
    return None if math.isnan(value) else float(value)


def fingerprint(features: pd.DataFrame, labels: np.ndarray) -> str:
    """Return a SHA-256 of the training matrix: column names, cell values and labels, in row order."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(features.columns).encode())
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    digest.update(np.asarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def code_version() -> str:
    """Return the git commit of the project (with '-dirty' for uncommitted changes), else the package version."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            # --no-optional-locks: a status check must not rewrite the index while someone else uses git.
            ["git", "--no-optional-locks", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        return f"git:{commit}{'-dirty' if status else ''}"
    except (OSError, subprocess.SubprocessError):
        return f"{PACKAGE_NAME}=={importlib.metadata.version(PACKAGE_NAME)}"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for library in LIBRARIES:
        try:
            versions[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            versions[library] = "not installed"
    return versions


def new_version_name(now: datetime | None = None) -> str:
    """Return a version name that sorts by creation time, e.g. 20261204T203011123456Z."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")


def train_version(frame: pd.DataFrame, config: TrainingConfig, store: ModelStore,
                  version: str | None = None) -> TrainingResult:
    """Backtest, fit the final model on every labelled row, save the version and promote it if it beats the baseline."""
    with threadpool_limits(limits=config.threads):
        return _train_version(frame, config, store, version)


def _train_version(frame: pd.DataFrame, config: TrainingConfig, store: ModelStore,
                   version: str | None) -> TrainingResult:
    numeric, categorical = model_feature_columns(frame)
    backtest = run_backtest(
        frame, numeric, categorical, config.hyperparameters, config.seed,
        config.n_folds, config.test_period_dates, config.min_training_rows, config.threads, config.tune,
        config.tuning_sample_rows,
    )
    decision = decide_promotion(backtest.metrics, config.model_type)

    labelled = labelled_rows(frame)
    features = labelled[numeric + categorical]
    labels = labelled[LABEL_COLUMN].to_numpy()
    params = config.hyperparameters
    final_selection = None
    if config.tune:
        selection = select_hyperparameters(labelled, config.model_type, numeric, categorical, params, config.seed,
                                           config.min_training_rows, sample_rows=config.tuning_sample_rows)
        params, final_selection = selection.hyperparameters, selection.as_record()
    model = build_model(config.model_type, numeric, categorical, params, config.seed)
    model.fit(features, labels)
    drivers = DriverExplainer.fit(
        build_driver_model(numeric, categorical, config.hyperparameters, config.seed), features, labels
    )
    LOGGER.info("fitted the final %s model on %d labelled rows", config.model_type, len(labelled))

    version = version or new_version_name()
    card = build_card(version, config, labelled, features, labels, numeric, categorical, backtest, decision,
                      params, final_selection)
    store.save_version(version, model, drivers, card)

    previous = store.promoted_version()
    if decision.promoted:
        store.promote(version)
    else:
        LOGGER.warning("model version %s %s; version %s keeps scoring", version, decision.reason, previous)
    return TrainingResult(version, card, backtest, decision, store.promoted_version())


def build_card(version: str, config: TrainingConfig, labelled: pd.DataFrame, features: pd.DataFrame,
               labels: np.ndarray, numeric: list[str], categorical: list[str], backtest: BacktestResult,
               decision: PromotionDecision, params: Hyperparameters,
               final_selection: dict[str, Any] | None) -> dict[str, Any]:
    """Return the model card: everything needed to tell how a version was made and how well it did."""
    dates = pd.to_datetime(labelled[OBSERVATION_DATE_COLUMN])
    overall = backtest.metrics[backtest.metrics["fold"] == OVERALL_FOLD]
    return {
        "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "model_type": config.model_type,
        "training_window": {
            "first_observation_date": dates.min().date().isoformat(),
            "last_observation_date": dates.max().date().isoformat(),
            "rows": int(len(labelled)),
            "base_rate": float(labels.mean()),
        },
        "data_fingerprint": fingerprint(features, labels),
        "code_version": code_version(),
        "library_versions": library_versions(),
        "features": {"numeric": numeric, "categorical": categorical},
        # The settings of the stored model: the configured ones, with the tuned entries replaced.
        "hyperparameters": asdict(params),
        "tuning": {
            "enabled": config.tune,
            # Windows above this row count are tuned on a sample of whole accounts. Each record below
            # has a `sample` entry with the rows and accounts it was tuned on.
            "sample_rows": config.tuning_sample_rows,
            "configured_hyperparameters": asdict(config.hyperparameters),
            "final_fit": final_selection,
            "backtest_folds": backtest.selections,
        },
        "seed": config.seed,
        "backtest": {
            "n_folds": len(backtest.folds),
            "test_period_dates": config.test_period_dates,
            "folds": [
                {"fold": f.number, "test_start": f.test_start.date().isoformat(),
                 "test_end": f.test_end.date().isoformat(), "training_rows": int(len(f.train_index)),
                 "test_rows": int(len(f.test_index))}
                for f in backtest.folds
            ],
            "overall": {
                scorer: {m: _json_number(v) for m, v in zip(group["metric"], group["value"])}
                for scorer, group in overall.groupby("scorer")
            },
        },
        "promotion": {"promoted": decision.promoted, "reason": decision.reason},
    }

