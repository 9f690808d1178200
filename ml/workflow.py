"""The churn model's steps against a warehouse file and a model store: snapshot, train, score.

Each step opens the DuckDB file only for its own duration, because DuckDB allows one writer process
and dbt runs against the same file in its own process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ml.backtest import BASELINE
from ml.pipeline import MODEL_TYPES
from ml.scoring import rows_to_score, score
from ml.store import ModelStore
from ml.training import TrainingConfig, TrainingResult, train_version
from ml.warehouse import (
    SNAPSHOT_TABLE,
    ensure_tables,
    read_features,
    snapshot_features,
    write_backtest,
    write_scores,
)

LOGGER = logging.getLogger(__name__)

SCORERS = (*MODEL_TYPES, BASELINE)


@dataclass(frozen=True)
class ScoringResult:
    """Outcome of the scoring step: the version used and the rows written, or the reason none were."""

    model_version: str | None
    scores: pd.DataFrame
    message: str


def snapshot(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse)) as con:
        return snapshot_features(con)


def train(warehouse: Path, store: ModelStore, config: TrainingConfig, table: str = SNAPSHOT_TABLE) -> TrainingResult:
    """Train, backtest and store a version; write its backtest to the warehouse; promote it if it beats the baseline."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = read_features(con, table)
    result = train_version(frame, config, store)
    with duckdb.connect(str(warehouse)) as con:
        write_backtest(con, result.version, result.backtest.metrics, result.backtest.predictions, SCORERS)
    return result


def score_promoted(warehouse: Path, store: ModelStore, table: str = SNAPSHOT_TABLE) -> ScoringResult:
    """Score the observations without a label using the promoted version, never an unpromoted one."""
    stored = store.load_promoted()
    if stored is None:
        # The empty table still gets created, because the dbt models downstream read it as a source.
        with duckdb.connect(str(warehouse)) as con:
            ensure_tables(con)
        message = (
            f"no promoted model version in {store.root}: no scores written, so score-driven models use "
            "the rule-based risk share"
        )
        LOGGER.warning(message)
        return ScoringResult(None, pd.DataFrame(), message)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = read_features(con, table)
    scores = score(rows_to_score(frame), stored)
    with duckdb.connect(str(warehouse)) as con:
        write_scores(con, scores)
    return ScoringResult(stored.version, scores, f"scored {len(scores)} rows with model version {stored.version}")
