"""Time-ordered splits of labelled feature rows: no training label reaches into the period it is tested on.

For a test period (a block of consecutive observation dates), the training rows are the labelled
observations whose horizon ends before the first test date. The backtest uses these splits for its
folds, and hyperparameter selection uses them again inside each fold's training rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_warehouse.errors import CswError
from ml.features import HORIZON_END_COLUMN, LABEL_COLUMN, OBSERVATION_DATE_COLUMN

LOGGER = logging.getLogger(__name__)


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
