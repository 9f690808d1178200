"""Score feature rows with a stored model version: calibrated probability, risk tier and top drivers."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pandas as pd
from threadpoolctl import threadpool_limits

from cs_warehouse.errors import CswError
from ml.features import ACCOUNT_COLUMN, LABEL_COLUMN, OBSERVATION_DATE_COLUMN
from ml.store import StoredModel

LOGGER = logging.getLogger(__name__)

# Risk tiers relative to the training base rate: "high" is at least twice as likely to churn as an
# average account, "medium" at least as likely.
HIGH_RISK_MULTIPLE = 2.0
MEDIUM_RISK_MULTIPLE = 1.0
# One native thread, for the same reason as TrainingConfig.threads: the matrices are small.
SCORING_THREADS = 1

SCORE_COLUMNS = (
    "account_id",
    "as_of_date",
    "model_version",
    "churn_probability",
    "risk_tier",
    "driver_1",
    "driver_1_contribution",
    "driver_2",
    "driver_2_contribution",
    "driver_3",
    "driver_3_contribution",
    "scored_at",
)


def rows_to_score(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the observations whose horizon is not over yet: the ones a model is for."""
    return frame[frame[LABEL_COLUMN].isna()].reset_index(drop=True)


def risk_tiers(probabilities: pd.Series, base_rate: float) -> pd.Series:
    """Return high, medium or low for each probability, by its ratio to the training base rate."""
    tiers = pd.Series("low", index=probabilities.index, dtype="object")
    tiers[probabilities >= MEDIUM_RISK_MULTIPLE * base_rate] = "medium"
    tiers[probabilities >= HIGH_RISK_MULTIPLE * base_rate] = "high"
    return tiers


def score(frame: pd.DataFrame, stored: StoredModel, scored_at: datetime | None = None) -> pd.DataFrame:
    """Return one ml.churn_scores row per row of `frame`, scored by `stored`."""
    columns = stored.card["features"]["numeric"] + stored.card["features"]["categorical"]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CswError(
            f"model version {stored.version} needs the feature columns {missing}, which the feature mart lacks: "
            "retrain the model on the current feature mart"
        )
    features = frame[columns]
    with threadpool_limits(limits=SCORING_THREADS):
        probabilities = pd.Series(stored.model.predict_proba(features)[:, 1], index=frame.index)
        drivers = stored.drivers.top_drivers(features)
    base_rate = float(stored.card["training_window"]["base_rate"])

    scores = pd.DataFrame(
        {
            "account_id": frame[ACCOUNT_COLUMN].astype(str),
            "as_of_date": pd.to_datetime(frame[OBSERVATION_DATE_COLUMN]).dt.date,
            "model_version": stored.version,
            "churn_probability": probabilities,
            "risk_tier": risk_tiers(probabilities, base_rate),
        }
    )
    scores = pd.concat([scores, drivers], axis=1)
    scores["scored_at"] = (scored_at or datetime.now(timezone.utc)).replace(tzinfo=None)
    LOGGER.info(
        "scored %d rows with model version %s: mean probability %.4f, %d high risk",
        len(scores), stored.version, probabilities.mean() if len(scores) else float("nan"),
        int((scores["risk_tier"] == "high").sum()),
    )
    return scores[list(SCORE_COLUMNS)]
