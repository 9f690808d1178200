"""Hyperparameter selection inside one training window, on an inner time-ordered split of its rows.

The backtest calls this once per fold with that fold's training rows only, and training calls it once
with every labelled row before the final fit. The test rows of a fold never take part in choosing the
settings that fold is scored with.

The inner split follows the backtest's own rule: the latest `validation_dates` observation dates of the
window are the validation rows, and the inner training rows are those whose horizon ends before the
first validation date. Each candidate is fitted uncalibrated on the inner training rows and ranked by
ROC AUC on the validation rows. Calibration changes probabilities, not their order, so it cannot change
the ranking. Ties go to the earlier candidate, so list the simplest first.

For the boosted trees each candidate also gets its number of rounds from the same split: the round
with the least validation log loss, up to the configured `max_iter`. The chosen settings then fit a
fixed number of rounds without early stopping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ml.folds import NotEnoughHistoryError, make_folds
from ml.features import LABEL_COLUMN
from ml.pipeline import GRADIENT_BOOSTING, LOGISTIC_REGRESSION, Hyperparameters, build_uncalibrated_model

LOGGER = logging.getLogger(__name__)

# Candidate settings per model type, as overrides of the configured Hyperparameters. Each tree size comes
# with a light setting and a heavier one (larger minimum leaf, stronger L2 penalty on leaf values),
# because training windows range from under 2,000 to about 6,500 rows with 13 % positives. Larger trees
# get a larger minimum leaf, because a leaf of 50 rows in a 15-leaf tree fits noise on a few thousand rows.
TUNING_GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    GRADIENT_BOOSTING: (
        {"max_leaf_nodes": 3, "min_samples_leaf": 50, "l2_regularization": 1.0},
        {"max_leaf_nodes": 3, "min_samples_leaf": 100, "l2_regularization": 10.0},
        {"max_leaf_nodes": 7, "min_samples_leaf": 50, "l2_regularization": 1.0},
        {"max_leaf_nodes": 7, "min_samples_leaf": 100, "l2_regularization": 10.0},
        {"max_leaf_nodes": 15, "min_samples_leaf": 100, "l2_regularization": 1.0},
        {"max_leaf_nodes": 15, "min_samples_leaf": 200, "l2_regularization": 10.0},
    ),
    LOGISTIC_REGRESSION: (
        {"logistic_c": 0.05},
        {"logistic_c": 0.5},
        {"logistic_c": 5.0},
    ),
}
# Observation dates (months) of the inner validation period.
VALIDATION_DATES = 2
# Clip for the validation log loss, so a probability of exactly 0 or 1 gives a finite loss.
LOSS_EPSILON = 1e-15


@dataclass(frozen=True)
class Selection:
    """The settings chosen for one model type in one training window, and how they were chosen."""

    model_type: str
    hyperparameters: Hyperparameters
    chosen: dict[str, Any]  # the winning grid entry; empty when the configured settings were kept
    validation_auc: list[float | None]  # inner ROC AUC per grid entry, in grid order
    reason: str

    def as_record(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "chosen": self.chosen, "validation_auc": self.validation_auc,
                "reason": self.reason}


def select_hyperparameters(training: pd.DataFrame, model_type: str, numeric: list[str], categorical: list[str],
                           params: Hyperparameters, seed: int, min_training_rows: int,
                           validation_dates: int = VALIDATION_DATES) -> Selection:
    """Choose the grid entry of `model_type` with the best ROC AUC on the latest dates of `training`.

    `training` contains the labelled rows of one training window only. When it is too short for an inner
    split (fewer than `min_training_rows` inner training rows, or one class in either part), the
    configured `params` are kept and the returned reason states why.
    """
    grid = TUNING_GRIDS[model_type]
    training = training.reset_index(drop=True)
    labels = training[LABEL_COLUMN].to_numpy()
    try:
        (split,) = make_folds(training, n_folds=1, test_period_dates=validation_dates,
                              min_training_rows=min_training_rows)
    except NotEnoughHistoryError:
        return Selection(model_type, params, {}, [], "kept the configured settings: too few rows for an inner split")
    if len(np.unique(labels[split.test_index])) < 2:
        return Selection(model_type, params, {}, [], "kept the configured settings: one class in the validation rows")

    features = training[numeric + categorical]
    train_rows, validation_rows = features.iloc[split.train_index], features.iloc[split.test_index]
    train_labels, validation_labels = labels[split.train_index], labels[split.test_index]
    candidates: list[dict[str, Any]] = []
    scores: list[float | None] = []
    for entry in grid:
        if model_type == GRADIENT_BOOSTING:
            score, rounds = _score_boosting_rounds(train_rows, train_labels, validation_rows, validation_labels,
                                                   numeric, categorical, replace(params, **entry), seed)
            # The round count chosen here replaces early stopping on a random share of the rows.
            candidates.append({**entry, "max_iter": rounds, "early_stopping": False})
        else:
            model = build_uncalibrated_model(model_type, numeric, categorical, replace(params, **entry), seed)
            model.fit(train_rows, train_labels)
            score = float(roc_auc_score(validation_labels, model.predict_proba(validation_rows)[:, 1]))
            candidates.append(dict(entry))
        scores.append(score)

    best = int(np.argmax(scores))
    reason = (
        f"validation ROC AUC {scores[best]:.4f} on {len(split.test_index)} rows from {split.test_start.date()} "
        f"to {split.test_end.date()}, trained on {len(split.train_index)} rows"
    )
    LOGGER.info("%s: chose %s (%s)", model_type, candidates[best], reason)
    return Selection(model_type, replace(params, **candidates[best]), candidates[best], scores, reason)


def _score_boosting_rounds(train_rows: pd.DataFrame, train_labels: np.ndarray, validation_rows: pd.DataFrame,
                           validation_labels: np.ndarray, numeric: list[str], categorical: list[str],
                           params: Hyperparameters, seed: int) -> tuple[float, int]:
    """Fit up to `params.max_iter` rounds and return the validation ROC AUC and count of the round with least log loss.

    Early stopping inside HistGradientBoostingClassifier holds out a random share of rows, but one
    account's rows from neighbouring months are nearly alike, so that share tracks the training rows and
    lets the trees grow too many rounds. The validation rows here are later dates than every training row.
    """
    model = build_uncalibrated_model(GRADIENT_BOOSTING, numeric, categorical,
                                     replace(params, early_stopping=False), seed)
    model.fit(train_rows, train_labels)
    transformed = model[:-1].transform(validation_rows)
    positive = validation_labels == 1
    best_loss, best_rounds, best_probabilities = np.inf, 1, None
    for rounds, probabilities in enumerate(model.named_steps["classifier"].staged_predict_proba(transformed), start=1):
        churn = np.clip(probabilities[:, 1], LOSS_EPSILON, 1 - LOSS_EPSILON)
        loss = -float(np.mean(np.where(positive, np.log(churn), np.log1p(-churn))))
        if loss < best_loss:
            best_loss, best_rounds, best_probabilities = loss, rounds, probabilities[:, 1]
    return float(roc_auc_score(validation_labels, best_probabilities)), best_rounds
