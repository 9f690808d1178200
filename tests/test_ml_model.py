"""The churn model on synthetic feature frames: metrics, backtest folds, training, promotion and scoring.

No warehouse is needed: the frames have the feature mart's columns, and the label depends on two of
them (or on nothing, for the noise cases), so the expected behaviour is known in advance.
"""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

import ml.backtest
from ml.backtest import BASELINE, OVERALL_FOLD, labelled_rows, make_folds, run_backtest
from ml.drivers import DriverExplainer, source_columns
from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, PER_FEATURE_PREFIX, model_feature_columns
from ml.metrics import calibration_table, evaluate_scores, top_decile_lift
from ml.pipeline import (
    GRADIENT_BOOSTING,
    LOGISTIC_REGRESSION,
    Hyperparameters,
    build_driver_model,
    build_uncalibrated_model,
)
from ml.scoring import rows_to_score, score
from ml.store import ModelStore
from ml.training import TrainingConfig, decide_promotion, fingerprint, train_version
from ml.tuning import TUNING_GRIDS, TUNING_SAMPLE_ROWS, VALIDATION_DATES, sample_accounts, select_hyperparameters
from cs_warehouse.errors import CswError

HORIZON_DAYS = 90
FAST = Hyperparameters(max_iter=60, min_samples_leaf=20)


def synthetic_features(accounts: int = 120, months: int = 15, seed: int = 0, mode: str = "signal") -> pd.DataFrame:
    """Return a feature frame of month-end observations; labels are NULL where the horizon is not over.

    mode "signal": churn depends on days_since_last_event, health_score and plan tier, and the
    rule-based share is computed from a noisy copy of days_since_last_event only.
    mode "noise": labels are coin flips, independent of every feature and of the rule-based share.
    mode "hidden": churn depends on a hidden value that only the rule-based share is computed from, so
    the features carry no signal and the baseline wins.
    """
    rng = np.random.default_rng(seed)
    month_ends = pd.date_range("2024-01-31", periods=months, freq="ME")
    frames = []
    for month_end in month_ends:
        frame = pd.DataFrame({name: rng.normal(size=accounts) for name in NUMERIC_FEATURES})
        frame[f"{PER_FEATURE_PREFIX}reports"] = rng.poisson(3, size=accounts).astype(float)
        for name in CATEGORICAL_FEATURES:
            frame[name] = rng.choice(["starter", "growth", "enterprise"], size=accounts)
        frame.loc[rng.random(accounts) < 0.1, "nps_latest"] = np.nan
        frame["account_id"] = [f"acc_{i:04d}" for i in range(accounts)]
        frame["observation_date"] = month_end.date()
        horizon_end = month_end + pd.offsets.MonthEnd(3)
        frame["horizon_end_date"] = horizon_end.date()

        hidden = rng.normal(size=accounts)
        if mode == "signal":
            driver = frame["days_since_last_event"]
            logit = -2.2 + 1.3 * driver - 0.9 * frame["health_score"] + 0.8 * (frame["plan_tier"] == "starter")
        elif mode == "noise":
            driver = hidden
            logit = np.full(accounts, -1.4)
        else:
            driver = hidden
            logit = -2.2 + 2.0 * hidden
        frame["churned_within_horizon"] = (rng.random(accounts) < 1 / (1 + np.exp(-logit))).astype(float)
        share = np.round(np.clip(0.3 + 0.15 * driver + 0.2 * rng.normal(size=accounts), 0, 1) * 7)
        frame["rule_based_risk_share"] = share / 7
        if horizon_end > month_ends[-1]:
            frame["churned_within_horizon"] = np.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def grid_entry(chosen: dict, model_type: str) -> dict:
    """Return the grid keys of a chosen setting, without the round count that tuning adds for boosting."""
    keys = TUNING_GRIDS[model_type][0].keys()
    return {key: chosen[key] for key in keys}


def fast_config(**changes) -> TrainingConfig:
    settings = {"hyperparameters": FAST, "n_folds": 3, "test_period_dates": 2, "min_training_rows": 100}
    settings.update(changes)
    return TrainingConfig(**settings)


def overall(metrics: pd.DataFrame, scorer: str, metric: str) -> float:
    rows = metrics[(metrics["fold"] == OVERALL_FOLD) & (metrics["scorer"] == scorer) & (metrics["metric"] == metric)]
    return float(rows["value"].iloc[0])


# Metrics, with numbers worked out by hand.

def test_top_decile_lift_exact_top():
    # 10 rows, 2 churners (base rate 0.2); the single top-decile row churns: 1.0 / 0.2 = 5.
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    scores = np.array([0.9, 0.5, 0.4, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1, 0.05])
    assert top_decile_lift(labels, scores) == pytest.approx(5.0)


def test_top_decile_lift_ties_share_places():
    # 20 rows, 3 churners (base rate 0.15), 2 top-decile places. One row at 0.9 churns; three rows tie
    # at 0.5 with one churner, so the second place contains 1/3 of a churner on average.
    # Expected churners in the top decile = 1 + 1/3; rate = (4/3) / 2 = 2/3; lift = (2/3) / 0.15 = 4.444...
    labels = np.array([1, 1, 0, 0] + [0] * 15 + [1])
    scores = np.array([0.9, 0.5, 0.5, 0.5] + [0.1] * 16)
    assert top_decile_lift(labels, scores) == pytest.approx((4 / 3) / 2 / 0.15)


def test_top_decile_lift_constant_score_is_one():
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    assert top_decile_lift(labels, np.full(10, 0.3)) == pytest.approx(1.0)


def test_top_decile_lift_without_churn_is_nan():
    assert math.isnan(top_decile_lift(np.zeros(10), np.linspace(0, 1, 10)))


def test_calibration_table_deciles():
    # 20 rows, two per decile; the deciles of the sorted scores pair rows (0,1), (2,3), ...
    scores = np.arange(20) / 20
    labels = np.array([0, 0] * 5 + [0, 1] * 5)
    table = calibration_table(labels, scores)
    assert list(table["bin"]) == list(range(1, 11))
    assert list(table["rows"]) == [2] * 10
    assert table["mean_predicted"].iloc[0] == pytest.approx(0.025)
    assert table["mean_predicted"].iloc[9] == pytest.approx(0.925)
    assert list(table["observed_rate"]) == [0.0] * 5 + [0.5] * 5


def test_evaluate_scores_values():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    metrics = evaluate_scores(labels, scores)
    # Pairs (positive, negative) ranked correctly: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4); wrong: (0.35 < 0.4).
    assert metrics["roc_auc"] == pytest.approx(3 / 4)
    # Brier = mean of (0.1², 0.4², 0.65², 0.2²) = (0.01 + 0.16 + 0.4225 + 0.04) / 4.
    assert metrics["brier_score"] == pytest.approx(0.6325 / 4)
    assert metrics["base_rate"] == pytest.approx(0.5)
    assert metrics["rows"] == 4


def test_evaluate_scores_one_class_has_no_auc():
    metrics = evaluate_scores(np.zeros(5, dtype=int), np.linspace(0, 1, 5))
    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["average_precision"])


# Backtest folds.

def test_training_horizons_end_before_test_start():
    labelled = labelled_rows(synthetic_features(accounts=40, months=20))
    folds = make_folds(labelled, n_folds=4, test_period_dates=2, min_training_rows=40)
    assert len(folds) == 4
    for fold in folds:
        train = labelled.loc[fold.train_index]
        test = labelled.loc[fold.test_index]
        assert (pd.to_datetime(train["horizon_end_date"]) < fold.test_start).all()
        assert (pd.to_datetime(test["observation_date"]) >= fold.test_start).all()
        assert (pd.to_datetime(test["observation_date"]) <= fold.test_end).all()


def test_folds_expand_and_stay_in_order():
    labelled = labelled_rows(synthetic_features(accounts=40, months=20))
    folds = make_folds(labelled, n_folds=4, test_period_dates=2, min_training_rows=40)
    starts = [fold.test_start for fold in folds]
    assert starts == sorted(starts)
    sizes = [len(fold.train_index) for fold in folds]
    assert sizes == sorted(sizes)
    assert all(set(folds[i].train_index) <= set(folds[i + 1].train_index) for i in range(len(folds) - 1))


def test_unlabelled_rows_never_enter_backtest():
    frame = synthetic_features(accounts=40, months=20)
    labelled = labelled_rows(frame)
    assert labelled["churned_within_horizon"].notna().all()
    assert len(labelled) == frame["churned_within_horizon"].notna().sum()


def test_too_short_history_raises():
    labelled = labelled_rows(synthetic_features(accounts=40, months=6))
    with pytest.raises(CswError, match="no usable fold"):
        make_folds(labelled, n_folds=3, test_period_dates=2, min_training_rows=40)


# Training, on synthetic frames.

def test_noise_features_give_auc_near_half():
    frame = synthetic_features(accounts=150, months=16, seed=5, mode="noise")
    numeric, categorical = model_feature_columns(frame)
    result = run_backtest(frame, numeric, categorical, FAST, seed=1, n_folds=3, test_period_dates=2,
                          min_training_rows=100)
    for scorer in (GRADIENT_BOOSTING, LOGISTIC_REGRESSION, BASELINE):
        assert 0.4 <= overall(result.metrics, scorer, "roc_auc") <= 0.6, scorer


def test_signal_beats_baseline_and_is_calibrated(tmp_path: Path):
    frame = synthetic_features(seed=2)
    result = train_version(frame, fast_config(), ModelStore(tmp_path), version="v1")
    metrics = result.backtest.metrics
    assert overall(metrics, GRADIENT_BOOSTING, "roc_auc") > overall(metrics, BASELINE, "roc_auc") + 0.05
    # Calibrated on training rows: the mean out-of-fold probability is near the observed churn rate.
    base_rate = overall(metrics, GRADIENT_BOOSTING, "base_rate")
    assert overall(metrics, GRADIENT_BOOSTING, "mean_score") == pytest.approx(base_rate, abs=0.04)
    assert result.decision.promoted
    assert result.promoted_version == "v1"


def test_same_data_and_seed_same_metrics(tmp_path: Path):
    frame = synthetic_features(seed=3)
    first = train_version(frame, fast_config(seed=11), ModelStore(tmp_path / "a"), version="v1")
    second = train_version(frame, fast_config(seed=11), ModelStore(tmp_path / "b"), version="v1")
    pd.testing.assert_frame_equal(first.backtest.metrics, second.backtest.metrics)
    pd.testing.assert_frame_equal(first.backtest.predictions, second.backtest.predictions)
    assert first.card["data_fingerprint"] == second.card["data_fingerprint"]


def test_model_card_contents(tmp_path: Path):
    frame = synthetic_features(seed=4)
    result = train_version(frame, fast_config(seed=13), ModelStore(tmp_path), version="v1")
    card = ModelStore(tmp_path).read_card("v1")
    assert card["seed"] == 13
    assert card["training_window"]["rows"] == int(frame["churned_within_horizon"].notna().sum())
    assert card["training_window"]["first_observation_date"] == "2024-01-31"
    assert len(card["data_fingerprint"]) == 64
    assert card["code_version"]
    assert "scikit-learn" in card["library_versions"]
    assert f"{PER_FEATURE_PREFIX}reports" in card["features"]["numeric"]
    assert card["hyperparameters"]["learning_rate"] == FAST.learning_rate
    assert card["tuning"]["configured_hyperparameters"]["max_iter"] == FAST.max_iter
    assert set(card["backtest"]["overall"]) == {GRADIENT_BOOSTING, LOGISTIC_REGRESSION, BASELINE}
    assert card["promotion"]["promoted"] == result.decision.promoted


def test_model_card_records_tuning(tmp_path: Path):
    frame = synthetic_features(seed=4)
    train_version(frame, fast_config(seed=13), ModelStore(tmp_path), version="v1")
    card = ModelStore(tmp_path).read_card("v1")
    tuning = card["tuning"]
    assert tuning["enabled"] is True
    chosen = tuning["final_fit"]["chosen"]
    assert grid_entry(chosen, GRADIENT_BOOSTING) in TUNING_GRIDS[GRADIENT_BOOSTING]
    assert 1 <= chosen["max_iter"] <= FAST.max_iter
    assert chosen["early_stopping"] is False
    for key, value in chosen.items():
        assert card["hyperparameters"][key] == value
    assert {s["model_type"] for s in tuning["backtest_folds"]} == {GRADIENT_BOOSTING, LOGISTIC_REGRESSION}
    assert tuning["sample_rows"] == TUNING_SAMPLE_ROWS
    assert tuning["final_fit"]["sample"]["sampled"] is False
    assert tuning["final_fit"]["sample"]["rows"] == card["training_window"]["rows"]


def test_model_card_records_tuning_sample(tmp_path: Path):
    frame = synthetic_features(accounts=150, months=15, seed=4)
    labelled_count = int(frame["churned_within_horizon"].notna().sum())
    train_version(frame, fast_config(seed=13, tuning_sample_rows=800), ModelStore(tmp_path), version="v1")
    card = ModelStore(tmp_path).read_card("v1")
    final = card["tuning"]["final_fit"]["sample"]
    assert card["tuning"]["sample_rows"] == 800
    assert final["sampled"] is True
    assert final["window_rows"] == labelled_count
    # 12 labelled rows per account: the smallest whole number of accounts with at least 800 rows is 67.
    assert final["accounts"] == 67
    assert final["rows"] == 67 * 12
    assert "sample of 67 accounts" in card["tuning"]["final_fit"]["reason"]
    # The final fit still uses every labelled row.
    assert card["training_window"]["rows"] == labelled_count


# Hyperparameter selection inside each training window.

def test_tuning_sees_only_training_rows(monkeypatch):
    frame = synthetic_features(accounts=150, months=16, seed=8)
    windows = []

    def spy(training, *args, **kwargs):
        windows.append(training)
        return select_hyperparameters(training, *args, **kwargs)

    monkeypatch.setattr(ml.backtest, "select_hyperparameters", spy)
    numeric, categorical = model_feature_columns(frame)
    result = run_backtest(frame, numeric, categorical, FAST, seed=1, n_folds=3, test_period_dates=2,
                          min_training_rows=100)
    assert len(windows) == 2 * len(result.folds)
    for fold, training in zip([f for f in result.folds for _ in range(2)], windows):
        assert (pd.to_datetime(training["horizon_end_date"]) < fold.test_start).all()
        assert len(training) == len(fold.train_index)


def test_tuning_picks_best_validation_auc():
    labelled = labelled_rows(synthetic_features(accounts=150, months=12, seed=9))
    numeric, categorical = model_feature_columns(labelled)
    selection = select_hyperparameters(labelled, GRADIENT_BOOSTING, numeric, categorical, FAST, seed=1,
                                       min_training_rows=100)
    grid = TUNING_GRIDS[GRADIENT_BOOSTING]
    assert len(selection.validation_auc) == len(grid)
    best = int(np.argmax(selection.validation_auc))
    assert grid_entry(selection.chosen, GRADIENT_BOOSTING) == grid[best]
    assert selection.hyperparameters.max_leaf_nodes == grid[best]["max_leaf_nodes"]
    assert selection.hyperparameters.max_iter == selection.chosen["max_iter"]
    assert selection.hyperparameters.early_stopping is False


def test_tuning_rounds_minimise_validation_log_loss():
    labelled = labelled_rows(synthetic_features(accounts=150, months=12, seed=9))
    numeric, categorical = model_feature_columns(labelled)
    selection = select_hyperparameters(labelled, GRADIENT_BOOSTING, numeric, categorical, FAST, seed=1,
                                       min_training_rows=100)
    (split,) = make_folds(labelled, n_folds=1, test_period_dates=VALIDATION_DATES, min_training_rows=100)
    labels = labelled["churned_within_horizon"].to_numpy()
    features = labelled[numeric + categorical]
    entry = grid_entry(selection.chosen, GRADIENT_BOOSTING)
    model = build_uncalibrated_model(GRADIENT_BOOSTING, numeric, categorical,
                                     replace(FAST, **entry, early_stopping=False), seed=1)
    model.fit(features.iloc[split.train_index], labels[split.train_index])
    validation = model.named_steps["preprocess"].transform(features.iloc[split.test_index])
    losses = [
        log_loss(labels[split.test_index], probabilities[:, 1], labels=[0, 1])
        for probabilities in model.named_steps["classifier"].staged_predict_proba(validation)
    ]
    assert len(losses) == FAST.max_iter
    assert selection.chosen["max_iter"] == int(np.argmin(losses)) + 1
    assert selection.chosen["max_iter"] < FAST.max_iter


def test_tuning_below_threshold_is_untouched():
    labelled = labelled_rows(synthetic_features(accounts=100, months=10, seed=9))
    numeric, categorical = model_feature_columns(labelled)
    assert len(labelled) < TUNING_SAMPLE_ROWS
    selections = [
        select_hyperparameters(labelled, GRADIENT_BOOSTING, numeric, categorical, FAST, seed=1,
                               min_training_rows=100, sample_rows=sample_rows)
        for sample_rows in (None, TUNING_SAMPLE_ROWS)
    ]
    assert selections[0].chosen
    for selection in selections[1:]:
        assert selection.chosen == selections[0].chosen
        assert selection.validation_auc == selections[0].validation_auc
        assert selection.hyperparameters == selections[0].hyperparameters
        assert selection.reason == selections[0].reason
        assert selection.sample.sampled is False
        assert selection.sample.rows == len(labelled)


def test_sample_keeps_whole_accounts():
    labelled = labelled_rows(synthetic_features(accounts=200, months=10, seed=15))
    # Drop rows at random so accounts have different numbers of rows.
    labelled = labelled.sample(frac=0.8, random_state=0).sort_index()
    sample, summary = sample_accounts(labelled, 500, seed=3)
    per_account = labelled["account_id"].value_counts()
    sampled_per_account = sample["account_id"].value_counts()

    assert summary.sampled is True
    assert summary.rows == len(sample)
    assert summary.accounts == sample["account_id"].nunique()
    assert summary.window_rows == len(labelled)
    pd.testing.assert_series_equal(sampled_per_account, per_account[sampled_per_account.index])
    assert len(sample) >= 500
    # Accounts are added until the threshold is reached, so one account fewer stays below it.
    assert len(sample) - sampled_per_account.max() < 500
    assert (sample.index == np.sort(sample.index)).all()


def test_sample_size_in_whole_accounts():
    # Every account has 7 labelled rows (10 month ends, 3 without a label).
    labelled = labelled_rows(synthetic_features(accounts=100, months=10, seed=15))
    for max_rows, accounts in ((70, 10), (71, 11), (699, 100)):
        sample, summary = sample_accounts(labelled, max_rows, seed=3)
        assert summary.accounts == accounts
        assert len(sample) == 7 * accounts
    unsampled, summary = sample_accounts(labelled, 700, seed=3)
    assert summary.sampled is False
    assert unsampled is labelled


def test_sample_is_seeded():
    labelled = labelled_rows(synthetic_features(accounts=200, months=8, seed=15))
    first, _ = sample_accounts(labelled, 300, seed=3)
    second, _ = sample_accounts(labelled, 300, seed=3)
    other, _ = sample_accounts(labelled, 300, seed=4)
    reordered, _ = sample_accounts(labelled.iloc[::-1], 300, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert set(other["account_id"]) != set(first["account_id"])
    assert set(reordered["account_id"]) == set(first["account_id"])


def test_tuning_above_threshold_uses_sample():
    labelled = labelled_rows(synthetic_features(accounts=100, months=10, seed=9))
    numeric, categorical = model_feature_columns(labelled)
    sample, _ = sample_accounts(labelled, 400, seed=1)
    on_sample = select_hyperparameters(sample, GRADIENT_BOOSTING, numeric, categorical, FAST, seed=1,
                                       min_training_rows=100, sample_rows=None)
    sampled = select_hyperparameters(labelled, GRADIENT_BOOSTING, numeric, categorical, FAST, seed=1,
                                     min_training_rows=100, sample_rows=400)
    assert sampled.chosen
    assert sampled.sample.sampled is True
    assert sampled.sample.rows == len(sample)
    assert sampled.sample.rows < len(labelled)
    assert sampled.chosen == on_sample.chosen
    assert sampled.validation_auc == on_sample.validation_auc


def test_tuning_short_window_keeps_settings():
    labelled = labelled_rows(synthetic_features(accounts=30, months=5, seed=9))
    numeric, categorical = model_feature_columns(labelled)
    selection = select_hyperparameters(labelled, GRADIENT_BOOSTING, numeric, categorical, FAST, seed=1,
                                       min_training_rows=100)
    assert selection.hyperparameters == FAST
    assert selection.chosen == {}
    assert "too few rows" in selection.reason


def test_fingerprint_changes_with_data():
    frame = labelled_rows(synthetic_features(accounts=30, months=8, seed=6))
    labels = frame["churned_within_horizon"].to_numpy()
    changed = frame.copy()
    changed.loc[0, "mrr"] += 1.0
    flipped = labels.copy()
    flipped[0] = 1 - flipped[0]
    assert fingerprint(frame, labels) == fingerprint(frame.copy(), labels.copy())
    assert fingerprint(frame, labels) != fingerprint(changed, labels)
    assert fingerprint(frame, labels) != fingerprint(frame, flipped)


# Promotion rule.

def promotion_metrics(candidate_auc: float, candidate_lift: float) -> pd.DataFrame:
    rows = [
        (GRADIENT_BOOSTING, "roc_auc", candidate_auc),
        (GRADIENT_BOOSTING, "top_decile_lift", candidate_lift),
        (BASELINE, "roc_auc", 0.70),
        (BASELINE, "top_decile_lift", 2.0),
    ]
    return pd.DataFrame([{"fold": OVERALL_FOLD, "scorer": s, "metric": m, "value": v} for s, m, v in rows])


@pytest.mark.parametrize(
    ("auc", "lift", "promoted"),
    [(0.75, 2.5, True), (0.75, 2.0, False), (0.70, 2.5, False), (0.65, 1.5, False), (math.nan, 2.5, False)],
)
def test_promotion_needs_both_metrics(auc: float, lift: float, promoted: bool):
    decision = decide_promotion(promotion_metrics(auc, lift), GRADIENT_BOOSTING)
    assert decision.promoted is promoted
    assert decision.reason.startswith("promoted" if promoted else "not promoted")


def test_worse_model_keeps_current_version(tmp_path: Path):
    store = ModelStore(tmp_path)
    good = train_version(synthetic_features(seed=7), fast_config(), store, version="v1")
    assert good.decision.promoted

    noise = train_version(synthetic_features(seed=8, mode="hidden"), fast_config(), store, version="v2")
    assert not noise.decision.promoted
    assert "does not beat the rule-based" in noise.decision.reason
    assert store.promoted_version() == "v1"
    assert store.versions() == ["v1", "v2"]

    scores = score(rows_to_score(synthetic_features(seed=9)), store.load_promoted())
    assert set(scores["model_version"]) == {"v1"}


def test_versions_are_never_overwritten(tmp_path: Path):
    store = ModelStore(tmp_path)
    store.save_version("v1", model={"a": 1}, drivers={"b": 2}, card={"version": "v1"})
    with pytest.raises(CswError, match="already exists"):
        store.save_version("v1", model={"a": 3}, drivers={"b": 4}, card={"version": "v1"})
    assert store.load("v1").model == {"a": 1}
    assert store.promoted_version() is None


def test_promote_unknown_version_raises(tmp_path: Path):
    with pytest.raises(CswError, match="not found"):
        ModelStore(tmp_path).promote("missing")


# Scoring and drivers.

def test_scores_probabilities_and_tiers(tmp_path: Path):
    frame = synthetic_features(seed=10)
    store = ModelStore(tmp_path)
    train_version(frame, fast_config(), store, version="v1")
    unlabelled = rows_to_score(frame)
    scores = score(unlabelled, store.load_promoted())

    assert len(scores) == len(unlabelled)
    assert scores["churn_probability"].between(0, 1).all()
    base_rate = frame["churned_within_horizon"].mean()
    assert scores["churn_probability"].mean() == pytest.approx(base_rate, abs=0.05)
    assert set(scores["risk_tier"]) <= {"high", "medium", "low"}
    assert not scores.duplicated(["account_id", "as_of_date", "model_version"]).any()
    inputs = set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES) | {f"{PER_FEATURE_PREFIX}reports"}
    for rank in (1, 2, 3):
        assert set(scores[f"driver_{rank}"]) <= inputs
    assert (scores["driver_1_contribution"] >= scores["driver_2_contribution"]).all()
    assert (scores["driver_2_contribution"] >= scores["driver_3_contribution"]).all()


def test_scoring_rejects_missing_feature(tmp_path: Path):
    frame = synthetic_features(seed=10)
    store = ModelStore(tmp_path)
    train_version(frame, fast_config(), store, version="v1")
    with pytest.raises(CswError, match="health_score"):
        score(rows_to_score(frame).drop(columns=["health_score"]), store.load_promoted())


def test_driver_contributions_sum_to_log_odds():
    frame = labelled_rows(synthetic_features(accounts=60, months=8, seed=12))
    numeric, categorical = model_feature_columns(frame)
    features = frame[numeric + categorical]
    explainer = DriverExplainer.fit(build_driver_model(numeric, categorical, FAST, 0), features,
                                    frame["churned_within_horizon"].to_numpy())
    classifier: LogisticRegression = explainer.pipeline.named_steps["classifier"]
    reference_log_odds = explainer.reference @ classifier.coef_[0] + classifier.intercept_[0]
    contributions = explainer.contributions(features.head(20))
    expected = explainer.pipeline.decision_function(features.head(20)) - reference_log_odds
    np.testing.assert_allclose(contributions.sum(axis=1).to_numpy(), expected, atol=1e-9)
    assert list(contributions.columns) == numeric + categorical


def test_driver_follows_days_since_last_event():
    frame = labelled_rows(synthetic_features(accounts=200, months=10, seed=14))
    numeric, categorical = model_feature_columns(frame)
    features = frame[numeric + categorical]
    explainer = DriverExplainer.fit(build_driver_model(numeric, categorical, FAST, 0), features,
                                    frame["churned_within_horizon"].to_numpy())
    extreme = features.head(1).copy()
    extreme["days_since_last_event"] = 6.0
    assert explainer.top_drivers(extreme)["driver_1"].iloc[0] == "days_since_last_event"


def test_source_columns_mapping():
    names = np.array([
        "numeric__events_30d", "numeric__events_prev_30d", "numeric__missingindicator_nps_latest",
        "categorical__plan_tier_growth", "categorical__plan_tier_(missing)",
    ])
    inputs = ["events_30d", "events_prev_30d", "nps_latest", "plan_tier"]
    assert source_columns(names, inputs) == ["events_30d", "events_prev_30d", "nps_latest", "plan_tier", "plan_tier"]


def test_missing_feature_column_raises():
    frame = synthetic_features(accounts=10, months=5).drop(columns=["mrr"])
    with pytest.raises(CswError, match="mrr"):
        model_feature_columns(frame)
