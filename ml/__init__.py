"""The churn model: backtest, training, model store, promotion and scoring, as plain functions.

Dagster wraps these steps in orchestration/assets/ml.py; ml.workflow runs them without Dagster.
"""
