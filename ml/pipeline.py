"""The scikit-learn pipelines of the churn model: preprocessing, classifier and probability calibration.

Every transform sits inside one Pipeline, so fitting it on training rows fits the imputers, scaler and
encoder on those rows only. Scoring reuses the fitted statistics and never refits them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

GRADIENT_BOOSTING = "gradient_boosting"
LOGISTIC_REGRESSION = "logistic_regression"
MODEL_TYPES = (GRADIENT_BOOSTING, LOGISTIC_REGRESSION)
MISSING_CATEGORY = "(missing)"


@dataclass(frozen=True)
class Hyperparameters:
    """Settings of both classifiers and of the calibration step."""

    # Tree size, minimum leaf and L2 penalty are the settings used when tuning is off, and early
    # stopping on a random held-out share of the rows then sets the number of rounds. With tuning on
    # (the default), ml/tuning.py replaces them per training window from its grid and sets a fixed
    # round count (at most `max_iter`) from an inner time split, with early stopping off.
    learning_rate: float = 0.05
    max_iter: int = 600
    max_leaf_nodes: int = 3
    min_samples_leaf: int = 50
    l2_regularization: float = 1.0
    early_stopping: bool = True
    validation_fraction: float = 0.15
    n_iter_no_change: int = 20
    logistic_c: float = 0.5
    logistic_max_iter: int = 2000
    # sigmoid (Platt) needs fewer rows than isotonic to be stable on small training windows.
    calibration_method: str = "sigmoid"
    calibration_folds: int = 3
    # False: the classifier is fitted once on all rows and the sigmoid on its out-of-fold predictions.
    # True averages `calibration_folds` classifiers, each fitted on only part of the rows, which costs
    # the boosted trees most on short training windows.
    calibration_ensemble: bool = False


def build_preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """Impute and scale numeric columns (with missing-value indicators) and one-hot encode categories."""
    numeric_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)],
        verbose_feature_names_out=True,
    )


def build_classifier(model_type: str, params: Hyperparameters, seed: int):
    """Return the unfitted classifier of `model_type`."""
    if model_type == GRADIENT_BOOSTING:
        return HistGradientBoostingClassifier(
            learning_rate=params.learning_rate,
            max_iter=params.max_iter,
            max_leaf_nodes=params.max_leaf_nodes,
            min_samples_leaf=params.min_samples_leaf,
            l2_regularization=params.l2_regularization,
            early_stopping=params.early_stopping,
            validation_fraction=params.validation_fraction,
            n_iter_no_change=params.n_iter_no_change,
            random_state=seed,
        )
    if model_type == LOGISTIC_REGRESSION:
        return LogisticRegression(C=params.logistic_c, max_iter=params.logistic_max_iter, random_state=seed)
    raise ValueError(f"unknown model type {model_type!r}, expected one of {MODEL_TYPES}")


def build_model(model_type: str, numeric: list[str], categorical: list[str], params: Hyperparameters,
                seed: int) -> Pipeline:
    """Return the calibrated churn pipeline: preprocessing, then the classifier inside CalibratedClassifierCV.

    The calibrator splits the training rows it is given into `calibration_folds` folds and fits the
    sigmoid on the classifier's predictions for each fold from a fit on its complement, so calibration
    never uses test rows. The classifier that scores is then fitted on all of those rows
    (`calibration_ensemble` False, the default) or is the average of the per-fold fits (True).
    """
    calibrated = CalibratedClassifierCV(
        build_classifier(model_type, params, seed),
        method=params.calibration_method,
        cv=params.calibration_folds,
        ensemble=params.calibration_ensemble,
    )
    return Pipeline([("preprocess", build_preprocessor(numeric, categorical)), ("classifier", calibrated)])


def build_uncalibrated_model(model_type: str, numeric: list[str], categorical: list[str], params: Hyperparameters,
                             seed: int) -> Pipeline:
    """Return preprocessing and the classifier of `model_type` without calibration, for ranking candidates."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(numeric, categorical)),
            ("classifier", build_classifier(model_type, params, seed)),
        ]
    )


def build_driver_model(numeric: list[str], categorical: list[str], params: Hyperparameters, seed: int) -> Pipeline:
    """Return an uncalibrated logistic regression pipeline whose coefficients explain each score."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(numeric, categorical)),
            ("classifier", build_classifier(LOGISTIC_REGRESSION, params, seed)),
        ]
    )
