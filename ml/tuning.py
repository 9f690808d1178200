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

A window with more than `TUNING_SAMPLE_ROWS` rows is tuned on a seeded sample of whole accounts (every
row of a sampled account, so the inner time split stays valid), and the final fit of the chosen settings
still uses every row of the window. Smaller windows are tuned on all their rows.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ml.folds import NotEnoughHistoryError, make_folds
from ml.features import ACCOUNT_COLUMN, LABEL_COLUMN
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
# Windows with more rows than this are tuned on a sample of whole accounts containing at least this
# many rows. Tuning fits nine uncalibrated candidates, six of them for up to `max_iter` boosting rounds, so
# without a sample its cost grows with the window. The default simulated data set (at most 9,643
# labelled rows) is never sampled.
TUNING_SAMPLE_ROWS = 100_000


@dataclass(frozen=True)
class TuningSample:
    """The rows a window was tuned on: all of them, or a sample of whole accounts."""

    sampled: bool
    window_rows: int
    rows: int  # rows tuned on, equal to window_rows when not sampled
    accounts: int  # accounts tuned on
    max_rows: int | None  # the threshold in force; None when sampling was switched off
    seed: int


@dataclass(frozen=True)
class Selection:
    """The settings chosen for one model type in one training window, and how they were chosen."""

    model_type: str
    hyperparameters: Hyperparameters
    chosen: dict[str, Any]  # the winning grid entry; empty when the configured settings were kept
    validation_auc: list[float | None]  # inner ROC AUC per grid entry, in grid order
    reason: str
    sample: TuningSample

    def as_record(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "chosen": self.chosen, "validation_auc": self.validation_auc,
                "reason": self.reason, "sample": asdict(self.sample)}


def sample_accounts(training: pd.DataFrame, max_rows: int | None, seed: int) -> tuple[pd.DataFrame, TuningSample]:
    """Return the rows to tune on: `training` itself when it has at most `max_rows` rows, else a sample.

    The sample takes every row of accounts drawn in a random order seeded by `seed`, until the accounts
    drawn contain at least `max_rows` rows, so it can exceed `max_rows` by less than one account's rows.
    Accounts are drawn from their sorted ids, so the sample does not depend on the row order of
    `training`, and the sampled rows keep the order they have in `training`. `max_rows` None switches
    sampling off.
    """
    accounts = training[ACCOUNT_COLUMN]
    if max_rows is None or len(training) <= max_rows:
        summary = TuningSample(False, len(training), len(training), int(accounts.nunique()), max_rows, seed)
        return training, summary

    rows_per_account = accounts.value_counts().sort_index()
    shuffled = rows_per_account.iloc[np.random.default_rng(seed).permutation(len(rows_per_account))]
    # The shuffled accounts up to and including the first whose cumulative row count reaches max_rows.
    needed = int(np.searchsorted(shuffled.cumsum().to_numpy(), max_rows)) + 1
    chosen = shuffled.index[:needed]
    sample = training[accounts.isin(chosen).to_numpy()]
    LOGGER.info("tuning on %d rows of %d sampled accounts out of %d rows (seed %d)",
                len(sample), needed, len(training), seed)
    return sample, TuningSample(True, len(training), len(sample), needed, max_rows, seed)


def select_hyperparameters(training: pd.DataFrame, model_type: str, numeric: list[str], categorical: list[str],
                           params: Hyperparameters, seed: int, min_training_rows: int,
                           validation_dates: int = VALIDATION_DATES,
                           sample_rows: int | None = TUNING_SAMPLE_ROWS) -> Selection:
    """Choose the grid entry of `model_type` with the best ROC AUC on the latest dates of `training`.

    `training` contains the labelled rows of one training window only. Above `sample_rows` rows, the
    choice is made on a sample of whole accounts (see `sample_accounts`, seeded by `seed`). When the
    rows are too few for an inner split (fewer than `min_training_rows` inner training rows, or one
    class in either part), the configured `params` are kept and the returned reason states why.
    """
    grid = TUNING_GRIDS[model_type]
    training, sample = sample_accounts(training, sample_rows, seed)
    training = training.reset_index(drop=True)
    labels = training[LABEL_COLUMN].to_numpy()
    try:
        (split,) = make_folds(training, n_folds=1, test_period_dates=validation_dates,
                              min_training_rows=min_training_rows)
    except NotEnoughHistoryError:
        return Selection(model_type, params, {}, [], "kept the configured settings: too few rows for an inner split",
                         sample)
    if len(np.unique(labels[split.test_index])) < 2:
        return Selection(model_type, params, {}, [], "kept the configured settings: one class in the validation rows",
                         sample)

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
    if sample.sampled:
        reason += f" of a {sample.rows}-row sample of {sample.accounts} accounts"
    LOGGER.info("%s: chose %s (%s)", model_type, candidates[best], reason)
    return Selection(model_type, replace(params, **candidates[best]), candidates[best], scores, reason, sample)


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
