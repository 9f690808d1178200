"""The simulated calendar: a fixed start date, month arithmetic and Unix-second helpers.

Nothing here reads the wall clock, so every run of the simulator covers the same days.
"""

from __future__ import annotations

import calendar as std_calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
DAY_SECONDS = 86_400
HOUR_SECONDS = 3_600


def add_months(moment: datetime, months: int, anchor_day: int | None = None) -> datetime:
    """Add calendar months the way Stripe advances a billing period: keep the anchor day, clamped to month end."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(anchor_day or moment.day, std_calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def to_epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def add_months_epoch(seconds: int, months: int, anchor_day: int | None = None) -> int:
    return to_epoch(add_months(from_epoch(seconds), months, anchor_day))


def iso(seconds: int | None) -> str:
    """Format Unix seconds as ISO-8601 UTC text with a Z suffix; None becomes an empty string (CSV null)."""
    if seconds is None:
        return ""
    return from_epoch(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Calendar:
    """The simulated history: `months` whole calendar months from `start`."""

    months: int
    start: datetime = HISTORY_START

    @property
    def end(self) -> datetime:
        return add_months(self.start, self.months)

    @property
    def start_epoch(self) -> int:
        return to_epoch(self.start)

    @property
    def end_epoch(self) -> int:
        return to_epoch(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def month_start(self, month: int) -> datetime:
        return add_months(self.start, month)

    def month_start_epoch(self, month: int) -> int:
        return to_epoch(self.month_start(month))

    def month_label(self, month: int) -> str:
        return self.month_start(month).strftime("%Y-%m")

    def month_first_days(self) -> np.ndarray:
        """Day index (days since start) of the first day of each month, plus the day after the history ends."""
        return np.array([(self.month_start(m) - self.start).days for m in range(self.months + 1)], dtype=np.int64)

    def month_of_epoch(self, seconds: int) -> int:
        moment = from_epoch(seconds)
        return (moment.year - self.start.year) * 12 + moment.month - self.start.month

    def weekday_of_day(self) -> np.ndarray:
        """Weekday (Monday 0) of every day of the history."""
        first = self.start.weekday()
        return (np.arange(self.days) + first) % 7

    def date_of_day(self, day: int) -> str:
        return (self.start + timedelta(days=day)).strftime("%Y-%m-%d")
