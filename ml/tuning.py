"""Hyperparameter selection inside one training window, on an inner time-ordered split of its rows.

The backtest calls this once per fold with that fold's training rows only, and training calls it once
with every labelled row before the final fit. The test rows of a fold never take part in choosing the
settings that fold is scored with.

The inner split follows the backtest's own rule: the latest `validation_dates` observation dates of the
window are the validation rows, and the inner training rows are those whose horizon ends before the
first validation date. Each candidate is fitted uncalibrated on the inner training rows and ranked by
ROC AUC on the validation rows. Calibration changes probabilities, not their order, so it cannot change
the ranking. Ties go to the earlier candidate, so list the simplest first.
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

# Candidate settings per model type, as overrides of the configured Hyperparameters. Larger trees get a
# larger minimum leaf, because a leaf of 50 rows in a 15-leaf tree fits noise on a few thousand rows.
TUNING_GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    GRADIENT_BOOSTING: (
        {"max_leaf_nodes": 3, "min_samples_leaf": 50},
        {"max_leaf_nodes": 7, "min_samples_leaf": 50},
        {"max_leaf_nodes": 15, "min_samples_leaf": 100},
    ),
    LOGISTIC_REGRESSION: (
        {"logistic_c": 0.05},
        {"logistic_c": 0.5},
        {"logistic_c": 5.0},
    ),
}
# Observation dates (months) of the inner validation period.
VALIDATION_DATES = 2


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
    configured `params` are kept and the reason says so.
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
    scores: list[float | None] = []
    for entry in grid:
        model = build_uncalibrated_model(model_type, numeric, categorical, replace(params, **entry), seed)
        model.fit(features.iloc[split.train_index], labels[split.train_index])
        predicted = model.predict_proba(features.iloc[split.test_index])[:, 1]
        scores.append(float(roc_auc_score(labels[split.test_index], predicted)))

    best = int(np.argmax(scores))
    reason = (
        f"validation ROC AUC {scores[best]:.4f} on {len(split.test_index)} rows from {split.test_start.date()} "
        f"to {split.test_end.date()}, trained on {len(split.train_index)} rows"
    )
    LOGGER.info("%s: chose %s (%s)", model_type, grid[best], reason)
    return Selection(model_type, replace(params, **grid[best]), dict(grid[best]), scores, reason)
