"""Jobs and schedules: the daily update, the monthly retraining, and the core marts alone.

- `daily_update`, partitioned by day: loads new landing files (the event files of its days), updates
  the event models over its days and look-back, rebuilds the models and checks downstream and scores
  accounts with the promoted churn model. It does not retrain the model. Its schedule runs every night
  for the day before; a backfill of many days runs as one run.
- `train_churn_model`: snapshot the features, backtest and train a model version, score with the
  promoted version and rebuild the score-driven models. Its schedule runs monthly, after month end.
- `core_marts`: the three core marts (monthly MRR with movements, weekly engagement, daily health) and
  everything they depend on. It also loads raw.crm_csms and raw.billing_subscriptions, because the
  checks of its raw tables compare keys with them and would fail on empty tables. The benchmark
  measures it against a hand-written SQL script.
`csw run` runs every asset over every partition (the implicit job of all assets).
"""

from __future__ import annotations

import dagster as dg

from data_quality.suites import REFERENCES
from orchestration.assets.ml import BACKTEST_KEY, MODEL_KEY, SCORES_KEY, SNAPSHOT_KEY
from orchestration.assets.raw import raw_asset_key
from orchestration.partitions import EVENT_DAYS

CORE_MARTS = (
    dg.AssetKey(["marts", "account_mrr_monthly"]),
    dg.AssetKey(["marts", "account_engagement_weekly"]),
    dg.AssetKey(["marts", "account_health_daily"]),
)
# Every raw table that some reference check reads as the parent. The parents' own checks reference
# only tables in this set, so loading it needs no further tables.
REFERENCED_RAW_TABLES = tuple(sorted({reference.parent_table for reference in REFERENCES}))
TRAINING = dg.AssetSelection.assets(MODEL_KEY, BACKTEST_KEY)
# Hour (reporting time zone) the daily update starts, for the day that has just ended.
DAILY_UPDATE_HOUR = 2
# Day of the month and hour the model is retrained, once the previous month's labels can mature.
TRAINING_CRON = "0 4 2 * *"

daily_update = dg.define_asset_job(
    "daily_update",
    selection=dg.AssetSelection.all() - TRAINING,
    partitions_def=EVENT_DAYS,
    description="One day's events and everything downstream, scored with the promoted churn model.",
)

train_churn_model = dg.define_asset_job(
    "train_churn_model",
    selection=dg.AssetSelection.assets(SNAPSHOT_KEY, MODEL_KEY, BACKTEST_KEY, SCORES_KEY)
    | dg.AssetSelection.assets(SCORES_KEY).downstream(include_self=False),
    description="Backtest, train and promote a churn model version, then rescore and rebuild what reads the scores.",
)

core_marts = dg.define_asset_job(
    "core_marts",
    selection=(
        dg.AssetSelection.assets(*CORE_MARTS).upstream()
        | dg.AssetSelection.assets(*(raw_asset_key(table) for table in REFERENCED_RAW_TABLES))
    ).required_multi_asset_neighbors(),
    partitions_def=EVENT_DAYS,
    description="The monthly MRR, weekly engagement and daily health marts and what they depend on.",
)

daily_update_schedule = dg.build_schedule_from_partitioned_job(daily_update, hour_of_day=DAILY_UPDATE_HOUR)

train_churn_model_schedule = dg.ScheduleDefinition(
    job=train_churn_model,
    cron_schedule=TRAINING_CRON,
    execution_timezone=EVENT_DAYS.timezone,
)

defs = dg.Definitions(
    jobs=[daily_update, train_churn_model, core_marts],
    schedules=[daily_update_schedule, train_churn_model_schedule],
)
