"""Telco cross-validation on the first 600 customers of the real file, and on noise labels."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_warehouse.errors import CswError
from ml.pipeline import GRADIENT_BOOSTING, LOGISTIC_REGRESSION
from ml.telco import (
    POOLED_FOLD,
    RULE_BASED,
    SCORERS,
    TELCO_FILE,
    cross_validate,
    labels_of,
    read_telco,
    rule_based_share,
)

PUBLIC_DATA_ENV = "CSW_PUBLIC_DATA"
SLICE_ROWS = 600
FOLDS = 5
SEED = 7


def public_data_dir() -> Path:
    """The public data sets: $CSW_PUBLIC_DATA, else ../shared/data next to the repository."""
    override = os.environ.get(PUBLIC_DATA_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def telco_slice() -> pd.DataFrame:
    folder = public_data_dir() / "telco"
    if not (folder / TELCO_FILE).is_file():
        pytest.skip(f"Telco data not found at {folder}; set {PUBLIC_DATA_ENV} to the public data folder")
    return read_telco(folder, rows=SLICE_ROWS)


@pytest.fixture(scope="module")
def real_labels_result(telco_slice: pd.DataFrame):
    return cross_validate(telco_slice, labels_of(telco_slice), FOLDS, SEED)


def pooled(result, scorer: str) -> pd.Series:
    metrics = result.metrics
    return metrics[(metrics["fold"] == POOLED_FOLD) & (metrics["scorer"] == scorer)].iloc[0]


def test_read_telco_blank_total_charges(telco_slice: pd.DataFrame) -> None:
    # One of the first 600 customers has tenure 0 and a blank TotalCharges.
    assert len(telco_slice) == SLICE_ROWS
    assert telco_slice["TotalCharges"].isna().sum() == 1
    assert (telco_slice.loc[telco_slice["TotalCharges"].isna(), "tenure"] == 0).all()


def test_cv_fold_count(real_labels_result) -> None:
    assert real_labels_result.folds == FOLDS
    assert sorted(real_labels_result.predictions["fold"].unique()) == list(range(1, FOLDS + 1))
    assert len(real_labels_result.predictions) == SLICE_ROWS
    assert real_labels_result.predictions["row"].nunique() == SLICE_ROWS


def test_cv_metrics_finite(real_labels_result) -> None:
    for scorer in SCORERS:
        row = pooled(real_labels_result, scorer)
        for metric in ("roc_auc", "average_precision", "brier_score", "top_decile_lift"):
            assert math.isfinite(row[metric]), f"{scorer} {metric} is {row[metric]}"
        assert row["rows"] == SLICE_ROWS


@pytest.mark.parametrize("scorer", [GRADIENT_BOOSTING, LOGISTIC_REGRESSION])
def test_cv_models_auc_range(real_labels_result, scorer: str) -> None:
    auc = pooled(real_labels_result, scorer)["roc_auc"]
    assert 0.6 < auc < 0.95, f"{scorer} pooled ROC AUC {auc:.3f}"


def test_cv_models_brier_below_constant(real_labels_result) -> None:
    # The calibrated models predict the churn rate on average, so their Brier score is below that of
    # always predicting the base rate, p * (1 - p).
    base_rate = pooled(real_labels_result, GRADIENT_BOOSTING)["base_rate"]
    for scorer in (GRADIENT_BOOSTING, LOGISTIC_REGRESSION):
        assert pooled(real_labels_result, scorer)["brier_score"] < base_rate * (1 - base_rate)


def test_rule_based_share_signals() -> None:
    frame = pd.DataFrame(
        {
            "Contract": ["Month-to-month", "Month-to-month", "Two year", "One year"],
            "tenure": [3, 12, 1, 40],
            "PaymentMethod": ["Electronic check", "Mailed check", "Electronic check", "Bank transfer (automatic)"],
        }
    )
    assert rule_based_share(frame).tolist() == pytest.approx([1.0, 1 / 3, 2 / 3, 0.0])


def test_cv_noise_labels_auc_near_half(telco_slice: pd.DataFrame) -> None:
    noise = np.random.default_rng(SEED).binomial(1, 0.3, size=len(telco_slice))
    result = cross_validate(telco_slice, noise, FOLDS, SEED)
    for scorer in SCORERS:
        auc = pooled(result, scorer)["roc_auc"]
        assert abs(auc - 0.5) < 0.1, f"{scorer} pooled ROC AUC {auc:.3f} on noise labels"


def test_read_telco_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CswError, match=TELCO_FILE):
        read_telco(tmp_path)


def test_read_telco_invalid_label(tmp_path: Path, telco_slice: pd.DataFrame) -> None:
    source = public_data_dir() / "telco" / TELCO_FILE
    lines = source.read_text(encoding="utf-8").splitlines()[:4]
    lines[2] = lines[2].rsplit(",", 1)[0] + ",Maybe"
    (tmp_path / TELCO_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CswError, match="line 3"):
        read_telco(tmp_path)


def test_rule_based_not_fitted(real_labels_result, telco_slice: pd.DataFrame) -> None:
    predictions = real_labels_result.predictions.sort_values("row")
    expected = rule_based_share(telco_slice)
    assert predictions[RULE_BASED].to_numpy() == pytest.approx(expected)


def test_cv_too_many_folds(telco_slice: pd.DataFrame) -> None:
    labels = np.zeros(len(telco_slice), dtype=int)
    labels[:3] = 1
    with pytest.raises(CswError, match="5 folds"):
        cross_validate(telco_slice, labels, FOLDS, SEED)
