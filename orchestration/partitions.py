"""Daily partitions of the event assets, and the window of days a run of them covers.

raw.events and the event models of dbt (`tag:event_window`) are partitioned by day in the reporting
time zone. A run covers a range of partitions, one day for the daily schedule, many for a backfill (one
run: both use BackfillPolicy.single_run). The range becomes a DayWindow: ingestion loads the event files
dated in it, and dbt recomputes those days plus the look-back (dbt var event_lookback_days).

A run without a partition (what `csw run` does by default) has no window at all: it loads every new
file and rebuilds the event models from all events. Dagster records such a run's materializations
without a partition; a run over thousands of partitions would record one per partition and asset,
which costs minutes. Likewise the first partition has no lower bound and the last none above, so
events dated before the first partition or after the last are never left out.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from cs_warehouse.config import load_settings
from cs_warehouse.ingest import DayWindow

_SETTINGS = load_settings()
EVENT_DAYS = dg.DailyPartitionsDefinition(
    start_date=_SETTINGS.event_partitions_start,
    timezone=_SETTINGS.reporting_timezone,
)
# Backfills of the event assets run as one run over the whole range, not one run per day.
EVENT_BACKFILL_POLICY = dg.BackfillPolicy.single_run()


def window_for_keys(first_key: str, last_key: str) -> DayWindow:
    """Return the days from partition first_key to last_key, open at the ends of the partition set."""
    start = None if first_key == EVENT_DAYS.get_first_partition_key() else date.fromisoformat(first_key)
    last_partition = EVENT_DAYS.get_last_partition_key()
    is_last = last_partition is None or last_key >= last_partition
    end = None if is_last else date.fromordinal(date.fromisoformat(last_key).toordinal() + 1)
    return DayWindow(start=start, end=end)


# Run tags of a run over partitions: one partition, or the range of a single-run backfill.
PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def partition_range_of_run(tags: dict[str, str]) -> tuple[str, str] | None:
    """Return the first and last partition a run covers, from its tags; None for a run without partitions."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG], tags[PARTITION_TAG]
    start, end = (tags.get(tag) for tag in PARTITION_RANGE_TAGS)
    if start is None or end is None:
        return None
    return start, end


def run_window(context: dg.AssetExecutionContext) -> DayWindow:
    """Return the window of the partitions the run covers, also in a step of an unpartitioned asset."""
    key_range = partition_range_of_run(context.run.tags)
    return DayWindow() if key_range is None else window_for_keys(*key_range)


def event_window(context: dg.AssetExecutionContext) -> DayWindow:
    """Return the window of days of the partition range this run materializes; open in an unpartitioned run."""
    if not context.has_partition_key_range:
        return DayWindow()
    key_range = context.partition_key_range
    return window_for_keys(key_range.start, key_range.end)
