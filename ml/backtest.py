"""Time-ordered backtest: an expanding training window, with no training label that reaches into the test period.

For each test period (a block of consecutive observation dates), the training rows are the labelled
observations whose horizon ends before the first test date. The label of such a row was known when
the test period started, so the backtest only uses information a model trained then would have had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cs_warehouse.errors import CswError
from ml.features import BASELINE_COLUMN, HORIZON_END_COLUMN, LABEL_COLUMN, OBSERVATION_DATE_COLUMN
from ml.metrics import evaluate_scores
from ml.pipeline import GRADIENT_BOOSTING, LOGISTIC_REGRESSION, Hyperparameters, build_model

LOGGER = logging.getLogger(__name__)

BASELINE = "rule_based"
OVERALL_FOLD = "overall"


class NotEnoughHistoryError(CswError):
    """The labelled rows span too few observation dates for any backtest fold."""


@dataclass(frozen=True)
class Fold:
    """One backtest split, as row positions into the labelled frame."""

    number: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_index: np.ndarray
    test_index: np.ndarray


@dataclass(frozen=True)
class BacktestResult:
    """Out-of-fold predictions of every scorer and their metrics per fold and overall."""

    predictions: pd.DataFrame  # fold, account_id, observation_date, label, one score column per scorer
    metrics: pd.DataFrame  # fold, scorer, metric, value
    folds: list[Fold]


def labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the rows whose horizon is over (label known), sorted by date, with a fresh index."""
    labelled = frame[frame[LABEL_COLUMN].notna()].copy()
    labelled[LABEL_COLUMN] = labelled[LABEL_COLUMN].astype(int)
    return labelled.sort_values([OBSERVATION_DATE_COLUMN, "account_id"], kind="stable").reset_index(drop=True)


def make_folds(labelled: pd.DataFrame, n_folds: int, test_period_dates: int, min_training_rows: int) -> list[Fold]:
    """Split `labelled` into up to `n_folds` test periods of `test_period_dates` observation dates each.

    The periods are the latest dates, oldest first. A period whose training window has fewer than
    `min_training_rows` rows or one class only is skipped with a warning.
    """
    dates = pd.to_datetime(labelled[OBSERVATION_DATE_COLUMN])
    horizon_ends = pd.to_datetime(labelled[HORIZON_END_COLUMN])
    labels = labelled[LABEL_COLUMN].to_numpy()
    distinct = np.sort(dates.unique())
    folds: list[Fold] = []

    first = len(distinct) - n_folds * test_period_dates
    for block in range(n_folds):
        period = distinct[max(first + block * test_period_dates, 0):first + (block + 1) * test_period_dates]
        if first + (block + 1) * test_period_dates <= 0 or not len(period):
            continue
        test_start, test_end = pd.Timestamp(period[0]), pd.Timestamp(period[-1])
        train_index = np.flatnonzero((horizon_ends < test_start).to_numpy())
        test_index = np.flatnonzero(((dates >= test_start) & (dates <= test_end)).to_numpy())
        if len(train_index) < min_training_rows or len(np.unique(labels[train_index])) < 2:
            LOGGER.warning(
                "skipping the test period %s to %s: %d training rows with horizon ending before it "
                "(at least %d with both classes needed)",
                test_start.date(), test_end.date(), len(train_index), min_training_rows,
            )
            continue
        folds.append(Fold(len(folds) + 1, test_start, test_end, train_index, test_index))

    if not folds:
        raise NotEnoughHistoryError(
            f"the backtest has no usable fold: {len(labelled)} labelled rows on {len(distinct)} observation "
            f"dates. Load more months of history, or lower n_folds / test_period_dates / min_training_rows."
        )
    return folds


def run_backtest(frame: pd.DataFrame, numeric: list[str], categorical: list[str], params: Hyperparameters,
                 seed: int, n_folds: int, test_period_dates: int, min_training_rows: int,
                 threads: int = 1) -> BacktestResult:
    """Fit both candidate models on each fold's training rows and score its test rows beside the baseline.

    `threads` caps native (OpenMP, BLAS) threads during the fits; see TrainingConfig.threads.
    """
    with threadpool_limits(limits=threads):
        return _run_backtest(frame, numeric, categorical, params, seed, n_folds, test_period_dates,
                             min_training_rows)


def _run_backtest(frame: pd.DataFrame, numeric: list[str], categorical: list[str], params: Hyperparameters,
                  seed: int, n_folds: int, test_period_dates: int, min_training_rows: int) -> BacktestResult:
    labelled = labelled_rows(frame)
    folds = make_folds(labelled, n_folds, test_period_dates, min_training_rows)
    features = labelled[numeric + categorical]
    labels = labelled[LABEL_COLUMN].to_numpy()
    parts = []

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
            model = build_model(model_type, numeric, categorical, params, seed)
            model.fit(features.iloc[fold.train_index], labels[fold.train_index])
            part[model_type] = model.predict_proba(features.iloc[fold.test_index])[:, 1]
        parts.append(part)

    predictions = pd.concat(parts, ignore_index=True)
    return BacktestResult(predictions=predictions, metrics=score_folds(predictions), folds=folds)


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
