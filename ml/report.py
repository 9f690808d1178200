"""Print the backtest of the promoted churn model version and its stored scores from a warehouse.

Usage: python -m ml.report [WAREHOUSE] (default: $CSW_WAREHOUSE or ./warehouse/cs_warehouse.duckdb).
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pandas as pd

from cs_warehouse.config import load_settings
from cs_warehouse.errors import CswError
from ml.store import ModelStore

REPORTED_METRICS = ("roc_auc", "average_precision", "brier_score", "top_decile_lift", "base_rate", "mean_score", "rows")


def backtest_summary(con: duckdb.DuckDBPyConnection, version: str) -> pd.DataFrame:
    """Return the overall backtest metrics of `version`, one column per scorer."""
    metrics = con.execute(
        "select scorer, metric, value from ml.backtest_results where model_version = ? and fold = 'overall'",
        [version],
    ).df()
    if metrics.empty:
        raise CswError(f"ml.backtest_results has no rows for model version {version}: run the churn_model asset")
    table = metrics.pivot(index="metric", columns="scorer", values="value")
    return table.loc[[m for m in REPORTED_METRICS if m in table.index]]


def score_summary(con: duckdb.DuckDBPyConnection, version: str) -> pd.DataFrame:
    """Return rows, mean probability and tier counts of the stored scores of `version`, per as-of date."""
    return con.execute(
        """
        select
            as_of_date,
            count(*) as rows,
            avg(churn_probability) as mean_probability,
            count(case when risk_tier = 'high' then 1 end) as high,
            count(case when risk_tier = 'medium' then 1 end) as medium,
            count(case when risk_tier = 'low' then 1 end) as low
        from ml.churn_scores
        where model_version = ?
        group by as_of_date
        order by as_of_date
        """,
        [version],
    ).df()


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    settings = load_settings()
    warehouse = Path(arguments[0]) if arguments else settings.warehouse
    store = ModelStore(settings.model_store)
    version = store.promoted_version()
    if version is None:
        print(f"no promoted model version in {store.root} (set CSW_MODEL_STORE to the run's model store)")
        return 1

    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            backtest = backtest_summary(con, version)
            scores = score_summary(con, version)
    except CswError as error:
        print(f"ml.report: error: {error}", file=sys.stderr)
        return 2
    card = store.read_card(version)
    print(f"model version {version} ({card['model_type']}), warehouse {warehouse}")
    print(f"training window {card['training_window']}")
    print("backtest, out-of-fold rows of every fold pooled:")
    print(backtest.round(4).to_string())
    print("stored scores:")
    print(scores.round({"mean_probability": 4}).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
