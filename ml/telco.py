"""Cross-validate the churn model builders on the IBM Telco customer churn file.

Usage: python -m ml.telco --from FOLDER [--folds 5] [--seed 7] [--rows N]

The Telco file is one snapshot with no history, so the time-ordered backtest of ml/backtest.py has no
labelled observation dates to test on. Stratified k-fold cross-validation is used instead: each fold
fits the project's pipelines (ml/pipeline.py, every transform inside the Pipeline) on the other folds
only, and the out-of-fold scores of all folds are pooled before the metrics of ml/metrics.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from cs_warehouse.errors import CswError
from ml.metrics import evaluate_scores
from ml.pipeline import GRADIENT_BOOSTING, LOGISTIC_REGRESSION, Hyperparameters, build_model

LOGGER = logging.getLogger(__name__)

TELCO_FILE = "Telco-Customer-Churn.csv"
LABEL_COLUMN = "Churn"
LABEL_VALUES = {"Yes": 1, "No": 0}
ID_COLUMN = "customerID"
NUMERIC_FEATURES = ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]
CATEGORICAL_FEATURES = [
    "gender", "Partner", "Dependents", "PhoneService", "MultipleLines", "InternetService", "OnlineSecurity",
    "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies", "Contract",
    "PaperlessBilling", "PaymentMethod",
]
RULE_BASED = "rule_based"
SCORERS = (GRADIENT_BOOSTING, LOGISTIC_REGRESSION, RULE_BASED)
# The rule-based reference: the share of these three signals that a customer shows (0, 1/3, 2/3 or 1).
RULE_CONTRACT = "Month-to-month"
RULE_MAX_TENURE_MONTHS = 12
RULE_PAYMENT_METHOD = "Electronic check"
DEFAULT_FOLDS = 5
DEFAULT_SEED = 7
POOLED_FOLD = "pooled"


@dataclass(frozen=True)
class CrossValidationResult:
    """Out-of-fold scores of every scorer and their metrics, pooled and per fold."""

    folds: int
    predictions: pd.DataFrame
    metrics: pd.DataFrame


def read_telco(folder: Path, rows: int | None = None) -> pd.DataFrame:
    """Read the Telco CSV from `folder`. Blank TotalCharges (tenure 0 customers) become missing values.

    `rows` keeps only the first rows of the file. Raises CswError for a missing file, a missing
    column or a label other than Yes or No.
    """
    path = folder / TELCO_FILE
    if not path.is_file():
        raise CswError(f"Telco file not found: {path}. Pass --from the folder that contains {TELCO_FILE}")

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)
    expected = [ID_COLUMN, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, LABEL_COLUMN]
    missing = [column for column in expected if column not in frame.columns]
    if missing:
        raise CswError(f"{path}: missing columns {missing}, expected the 21-column IBM Telco churn file")

    invalid = ~frame[LABEL_COLUMN].isin(LABEL_VALUES)
    if invalid.any():
        line = int(np.flatnonzero(invalid)[0]) + 2
        raise CswError(
            f"{path} line {line}: invalid {LABEL_COLUMN} value {frame[LABEL_COLUMN][invalid].iloc[0]!r}, "
            f"expected Yes or No"
        )

    for column in NUMERIC_FEATURES:
        text = frame[column].str.strip()
        frame[column] = pd.to_numeric(text.mask(text == ""), errors="raise")
    return frame


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    return frame[LABEL_COLUMN].map(LABEL_VALUES).to_numpy(dtype=int)


def rule_based_share(frame: pd.DataFrame) -> np.ndarray:
    """Return the share of three churn signals: month-to-month contract, short tenure, electronic check.

    The share is a ranking, not a probability, so its Brier score only shows how far it is from calibrated.
    """
    signals = np.column_stack(
        [
            frame["Contract"].eq(RULE_CONTRACT).to_numpy(),
            (frame["tenure"] < RULE_MAX_TENURE_MONTHS).to_numpy(),
            frame["PaymentMethod"].eq(RULE_PAYMENT_METHOD).to_numpy(),
        ]
    )
    return signals.mean(axis=1)


def score_fold(model_type: str, train: pd.DataFrame, train_labels: np.ndarray, test: pd.DataFrame,
               seed: int) -> np.ndarray:
    """Fit the calibrated pipeline of `model_type` on `train` only and return churn probabilities for `test`."""
    model = build_model(model_type, NUMERIC_FEATURES, CATEGORICAL_FEATURES, Hyperparameters(), seed)
    features = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    model.fit(train[features], train_labels)
    return model.predict_proba(test[features])[:, 1]


def cross_validate(frame: pd.DataFrame, labels: np.ndarray, folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED,
                   threads: int = 1) -> CrossValidationResult:
    """Score every row out of fold with each scorer and compute the metrics per fold and pooled.

    `labels` is passed separately from `frame` so a test can swap in other labels (such as noise).
    Raises CswError when `folds` is below 2 or above the row count of either class.
    """
    smaller_class = int(min(labels.sum(), len(labels) - labels.sum()))
    if folds < 2 or folds > smaller_class:
        raise CswError(
            f"cannot split {len(labels)} rows ({smaller_class} in the smaller class) into {folds} folds. "
            "Use --folds between 2 and the smaller class's row count, or more rows"
        )

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    parts = []
    with threadpool_limits(limits=threads):
        for fold, (train_index, test_index) in enumerate(splitter.split(frame, labels), start=1):
            train, test = frame.iloc[train_index], frame.iloc[test_index]
            part = pd.DataFrame({"fold": fold, "row": test_index, "label": labels[test_index]})
            for model_type in (GRADIENT_BOOSTING, LOGISTIC_REGRESSION):
                part[model_type] = score_fold(model_type, train, labels[train_index], test, seed)
            part[RULE_BASED] = rule_based_share(test)
            LOGGER.info("fold %d: trained on %d rows, scored %d rows", fold, len(train), len(test))
            parts.append(part)

    predictions = pd.concat(parts, ignore_index=True)
    return CrossValidationResult(folds=folds, predictions=predictions, metrics=metrics_table(predictions))


def metrics_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (fold, scorer) with every metric; fold "pooled" is all out-of-fold rows at once."""
    records = []
    groups = [(str(fold), part) for fold, part in predictions.groupby("fold")] + [(POOLED_FOLD, predictions)]
    for fold, part in groups:
        for scorer in SCORERS:
            metrics = evaluate_scores(part["label"].to_numpy(), part[scorer].to_numpy())
            records.append({"fold": fold, "scorer": scorer, **metrics})
    return pd.DataFrame.from_records(records)


def summary(result: CrossValidationResult) -> pd.DataFrame:
    """Return the pooled metrics, one column per scorer, plus the spread of ROC AUC over folds."""
    pooled = result.metrics[result.metrics["fold"] == POOLED_FOLD].set_index("scorer").drop(columns="fold")
    per_fold = result.metrics[result.metrics["fold"] != POOLED_FOLD].groupby("scorer")["roc_auc"]
    table = pooled.T[list(SCORERS)]
    table.loc["roc_auc_fold_min"] = per_fold.min()[list(SCORERS)]
    table.loc["roc_auc_fold_max"] = per_fold.max()[list(SCORERS)]
    return table


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.telco", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, required=True,
                        help=f"folder that contains {TELCO_FILE}")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="number of stratified folds")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the fold split and the models")
    parser.add_argument("--rows", type=int, default=None, help="use only the first N rows of the file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        frame = read_telco(arguments.source, arguments.rows)
        labels = labels_of(frame)
        result = cross_validate(frame, labels, arguments.folds, arguments.seed)
    except CswError as error:
        print(f"ml.telco: error: {error}", file=sys.stderr)
        return 2

    blank_total = int(frame["TotalCharges"].isna().sum())
    print(f"{len(frame)} rows from {arguments.source / TELCO_FILE}, churn rate {labels.mean():.4f}, "
          f"{blank_total} blank TotalCharges (imputed inside each training fold)")
    print(f"stratified {result.folds}-fold cross-validation, seed {arguments.seed}, out-of-fold rows pooled:")
    print(summary(result).round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
