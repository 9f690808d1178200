"""Metrics of a churn score against observed labels: ROC AUC, average precision, Brier, lift, calibration."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

LOGGER = logging.getLogger(__name__)

TOP_FRACTION = 0.10
CALIBRATION_BINS = 10
METRIC_NAMES = ("roc_auc", "average_precision", "brier_score", "top_decile_lift", "base_rate", "mean_score", "rows")


def top_decile_lift(labels: np.ndarray, scores: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Return the churn rate among the top `fraction` of scores divided by the overall churn rate.

    Scores tied at the cut-off share the remaining places pro rata, which is the expected lift under
    random tie-breaking. Without this, a coarse score such as the rule-based share (eight possible
    values) would get a lift that depends on row order.
    """
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    base_rate = labels.mean() if len(labels) else math.nan
    if not len(labels) or base_rate == 0:
        return math.nan

    places = fraction * len(labels)
    cutoff = np.sort(scores)[::-1][max(math.ceil(places) - 1, 0)]
    above = scores > cutoff
    tied = scores == cutoff
    expected_positives = labels[above].sum() + (places - above.sum()) * labels[tied].mean()
    return float(expected_positives / places / base_rate)


def calibration_table(labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Return one row per score decile (by rank, ties split by position): rows, mean score, churn rate."""
    frame = pd.DataFrame({"label": np.asarray(labels, dtype=float), "score": np.asarray(scores, dtype=float)})
    if frame.empty:
        return pd.DataFrame(columns=["bin", "rows", "mean_predicted", "observed_rate"])

    ranks = frame["score"].rank(method="first")
    frame["bin"] = pd.qcut(ranks, q=min(bins, len(frame)), labels=False) + 1
    table = (
        frame.groupby("bin")
        .agg(rows=("label", "size"), mean_predicted=("score", "mean"), observed_rate=("label", "mean"))
        .reset_index()
    )
    return table


def evaluate_scores(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Return every metric of `scores` against binary `labels`; AUC and AP are NaN with one class only."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    has_both_classes = len(np.unique(labels)) == 2
    if not has_both_classes:
        LOGGER.warning("only one class among %d labels: ROC AUC and average precision are undefined", len(labels))

    return {
        "roc_auc": float(roc_auc_score(labels, scores)) if has_both_classes else math.nan,
        "average_precision": float(average_precision_score(labels, scores)) if has_both_classes else math.nan,
        "brier_score": float(brier_score_loss(labels, np.clip(scores, 0.0, 1.0))) if len(labels) else math.nan,
        "top_decile_lift": top_decile_lift(labels, scores),
        "base_rate": float(labels.mean()) if len(labels) else math.nan,
        "mean_score": float(scores.mean()) if len(scores) else math.nan,
        "rows": float(len(labels)),
    }
