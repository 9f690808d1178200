"""Read the feature mart from the DuckDB warehouse and write backtest results and churn scores to schema ml."""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

from cs_warehouse.errors import CswError
from ml.features import FEATURE_TABLE, OBSERVATION_DATE_COLUMN
from ml.metrics import calibration_table

LOGGER = logging.getLogger(__name__)

ML_SCHEMA = "ml"

TABLE_DDL = {
    "backtest_results": """
        create table if not exists ml.backtest_results (
            model_version varchar not null,
            fold varchar not null,
            scorer varchar not null,
            metric varchar not null,
            value double,
            primary key (model_version, fold, scorer, metric)
        )""",
    "backtest_calibration": """
        create table if not exists ml.backtest_calibration (
            model_version varchar not null,
            scorer varchar not null,
            bin integer not null,
            rows integer not null,
            mean_predicted double,
            observed_rate double,
            primary key (model_version, scorer, bin)
        )""",
    "backtest_predictions": """
        create table if not exists ml.backtest_predictions (
            model_version varchar not null,
            fold integer not null,
            account_id varchar not null,
            observation_date date not null,
            label integer not null,
            scorer varchar not null,
            score double,
            primary key (model_version, account_id, observation_date, scorer)
        )""",
    "churn_scores": """
        create table if not exists ml.churn_scores (
            account_id varchar not null,
            as_of_date date not null,
            model_version varchar not null,
            churn_probability double not null,
            risk_tier varchar not null,
            driver_1 varchar,
            driver_1_contribution double,
            driver_2 varchar,
            driver_2_contribution double,
            driver_3 varchar,
            driver_3_contribution double,
            scored_at timestamp not null,
            primary key (account_id, as_of_date, model_version)
        )""",
}


SNAPSHOT_TABLE = "ml.churn_features_snapshot"


def read_features(con: duckdb.DuckDBPyConnection, table: str = FEATURE_TABLE) -> pd.DataFrame:
    """Return every row of the feature mart (or of its snapshot), ordered by observation date and account."""
    try:
        frame = con.execute(f"select * from {table} order by {OBSERVATION_DATE_COLUMN}, account_id").df()
    except duckdb.CatalogException as error:
        raise CswError(
            f"{table} not found in the warehouse: build the feature mart first "
            f"(dbt build --select churn_features) and then its snapshot. DuckDB said: {error}"
        ) from error
    LOGGER.info("read %d rows from %s", len(frame), table)
    return frame


def snapshot_features(con: duckdb.DuckDBPyConnection) -> int:
    """Copy the feature mart into ml.churn_features_snapshot, so training and scoring read one frozen matrix."""
    con.execute(f"create schema if not exists {ML_SCHEMA}")
    try:
        con.execute(f"create or replace table {SNAPSHOT_TABLE} as select * from {FEATURE_TABLE}")
    except duckdb.CatalogException as error:
        raise CswError(
            f"{FEATURE_TABLE} not found in the warehouse: build it first (dbt build --select churn_features). "
            f"DuckDB said: {error}"
        ) from error
    rows = con.execute(f"select count(*) from {SNAPSHOT_TABLE}").fetchone()[0]
    LOGGER.info("copied %d rows of %s to %s", rows, FEATURE_TABLE, SNAPSHOT_TABLE)
    return int(rows)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {ML_SCHEMA}")
    for ddl in TABLE_DDL.values():
        con.execute(ddl)


def write_backtest(con: duckdb.DuckDBPyConnection, version: str, metrics: pd.DataFrame,
                   predictions: pd.DataFrame, scorers: tuple[str, ...]) -> None:
    """Replace the backtest rows of `version`: metrics, pooled calibration deciles and out-of-fold predictions."""
    ensure_tables(con)
    metric_rows = metrics.assign(model_version=version)[["model_version", "fold", "scorer", "metric", "value"]]
    calibration = pd.concat(
        [
            calibration_table(predictions["label"], predictions[scorer]).assign(model_version=version, scorer=scorer)
            for scorer in scorers
        ],
        ignore_index=True,
    )[["model_version", "scorer", "bin", "rows", "mean_predicted", "observed_rate"]]
    long_predictions = predictions.melt(
        id_vars=["fold", "account_id", OBSERVATION_DATE_COLUMN, "label"], value_vars=list(scorers),
        var_name="scorer", value_name="score",
    ).assign(model_version=version)
    long_predictions = long_predictions[
        ["model_version", "fold", "account_id", OBSERVATION_DATE_COLUMN, "label", "scorer", "score"]
    ]

    _replace_rows(con, "backtest_results", metric_rows, version)
    _replace_rows(con, "backtest_calibration", calibration, version)
    _replace_rows(con, "backtest_predictions", long_predictions, version)


def write_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> None:
    """Replace every score of the as-of dates being written, whatever version wrote it.

    An account has one score per as-of date: the latest scoring run's. Re-running with the same
    version changes nothing, and a newly promoted version takes over the dates it scores, while
    earlier dates keep the version that scored them.
    """
    ensure_tables(con)
    con.register("new_scores", scores)
    try:
        con.execute("begin transaction")
        con.execute(
            """
            delete from ml.churn_scores
            where as_of_date in (select distinct as_of_date from new_scores)
            """
        )
        con.execute("insert into ml.churn_scores by name select * from new_scores")
        con.execute("commit")
    except duckdb.Error:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_scores")
    LOGGER.info("wrote %d rows to ml.churn_scores", len(scores))


def _replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, version: str) -> None:
    con.register("new_rows", rows)
    try:
        con.execute("begin transaction")
        con.execute(f"delete from ml.{table} where model_version = ?", [version])
        con.execute(f"insert into ml.{table} by name select * from new_rows")
        con.execute("commit")
    except duckdb.Error:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_rows")
    LOGGER.info("wrote %d rows to ml.%s for model version %s", len(rows), table, version)
