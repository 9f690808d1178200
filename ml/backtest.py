"""Time-ordered backtest: an expanding training window, with no training label that reaches into the test period.

For each test period (a block of consecutive observation dates), the training rows are the labelled
observations whose horizon ends before the first test date. The label of such a row was known when
the test period started, so the backtest only uses information a model trained then would have had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from ml.features import BASELINE_COLUMN, LABEL_COLUMN, OBSERVATION_DATE_COLUMN
from ml.folds import Fold, NotEnoughHistoryError, labelled_rows, make_folds
from ml.metrics import evaluate_scores
from ml.pipeline import GRADIENT_BOOSTING, LOGISTIC_REGRESSION, Hyperparameters, build_model
from ml.tuning import TUNING_SAMPLE_ROWS, select_hyperparameters

__all__ = ["BASELINE", "OVERALL_FOLD", "BacktestResult", "Fold", "NotEnoughHistoryError", "labelled_rows",
           "make_folds", "run_backtest", "score_folds"]

LOGGER = logging.getLogger(__name__)

BASELINE = "rule_based"
OVERALL_FOLD = "overall"


@dataclass(frozen=True)
class BacktestResult:
    """Out-of-fold predictions of every scorer and their metrics per fold and overall."""

    predictions: pd.DataFrame  # fold, account_id, observation_date, label, one score column per scorer
    metrics: pd.DataFrame  # fold, scorer, metric, value
    folds: list[Fold]
    # One record per fold and model type: the settings chosen on the fold's training rows and their
    # inner validation ROC AUC per grid entry (ml/tuning.py).
    selections: list[dict[str, Any]]


def run_backtest(frame: pd.DataFrame, numeric: list[str], categorical: list[str], params: Hyperparameters,
                 seed: int, n_folds: int, test_period_dates: int, min_training_rows: int,
                 threads: int = 1, tune: bool = True,
                 tuning_sample_rows: int | None = TUNING_SAMPLE_ROWS) -> BacktestResult:
    """Fit both candidate models on each fold's training rows and score its test rows beside the baseline.

    With `tune`, each model's settings are chosen on an inner time-ordered split of the fold's training
    rows (ml/tuning.py), or of a sample of whole accounts when the window has more than
    `tuning_sample_rows` rows; without it, `params` are used as given.

    `threads` caps native (OpenMP, BLAS) threads during the fits; see TrainingConfig.threads.
    """
    with threadpool_limits(limits=threads):
        return _run_backtest(frame, numeric, categorical, params, seed, n_folds, test_period_dates,
                             min_training_rows, tune, tuning_sample_rows)


def _run_backtest(frame: pd.DataFrame, numeric: list[str], categorical: list[str], params: Hyperparameters,
                  seed: int, n_folds: int, test_period_dates: int, min_training_rows: int, tune: bool,
                  tuning_sample_rows: int | None) -> BacktestResult:
    labelled = labelled_rows(frame)
    folds = make_folds(labelled, n_folds, test_period_dates, min_training_rows)
    features = labelled[numeric + categorical]
    labels = labelled[LABEL_COLUMN].to_numpy()
    parts = []
    selections = []

    for fold in folds:
        LOGGER.info(
            "fold %d: training on %d rows, testing on %d rows from %s to %s",
            fold.number, len(fold.train_index), len(fold.test_index), fold.test_start.date(), fold.test_end.date(),
        )
        part = labelled.loc[fold.test_index, ["account_id", OBSERVATION_DATE_COLUMN]].copy()
        part.insert(0, "fold", fold.number)
        part["label"] = labels[fold.test_index]
        part[BASELINE] = labelled.loc[fold.test_index, BASELINE_COLUMN].fillna(0.0).to_numpy()
        for model_type in (GRADIENT_BOOSTING, LOGISTIC_REGRESSION):
            fold_params = params
            if tune:
                selection = select_hyperparameters(labelled.loc[fold.train_index], model_type, numeric, categorical,
                                                   params, seed, min_training_rows,
                                                   sample_rows=tuning_sample_rows)
                selections.append({"fold": fold.number, **selection.as_record()})
                fold_params = selection.hyperparameters
            model = build_model(model_type, numeric, categorical, fold_params, seed)
            model.fit(features.iloc[fold.train_index], labels[fold.train_index])
            part[model_type] = model.predict_proba(features.iloc[fold.test_index])[:, 1]
        parts.append(part)

    predictions = pd.concat(parts, ignore_index=True)
    return BacktestResult(predictions=predictions, metrics=score_folds(predictions), folds=folds,
                          selections=selections)


def score_folds(predictions: pd.DataFrame) -> pd.DataFrame:
    """Return the metrics of every scorer per fold and over all out-of-fold rows pooled (fold 'overall')."""
    rows = []
    groups = [(str(number), group) for number, group in predictions.groupby("fold")]
    groups.append((OVERALL_FOLD, predictions))
    for fold_name, group in groups:
        for scorer in (GRADIENT_BOOSTING, LOGISTIC_REGRESSION, BASELINE):
            for metric, value in evaluate_scores(group["label"].to_numpy(), group[scorer].to_numpy()).items():
                rows.append({"fold": fold_name, "scorer": scorer, "metric": metric, "value": value})
    return pd.DataFrame(rows)
