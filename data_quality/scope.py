"""The rows of a table that one validation reads: the whole table, or the rows of this run's loads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WHOLE_TABLE = "whole table"


@dataclass(frozen=True)
class RowScope:
    """A filter on the load metadata column `_loaded_at`; no bound means the whole table.

    `loaded_since` is naive UTC, like `_loaded_at`. Every load writes one `_loaded_at` value to all
    the rows it inserts, so the rows at or after a run's start time are the rows that run loaded.
    """

    loaded_since: dt.datetime | None = None

    @property
    def is_whole_table(self) -> bool:
        return self.loaded_since is None

    def condition(self) -> str | None:
        """Return the SQL predicate that selects the scope's rows, or None for the whole table."""
        if self.loaded_since is None:
            return None
        return f"_loaded_at >= timestamp '{self.loaded_since.isoformat(sep=' ')}'"

    def describe(self) -> str:
        if self.loaded_since is None:
            return WHOLE_TABLE
        return f"rows loaded at or after {self.loaded_since.isoformat(sep=' ', timespec='seconds')} UTC"


def loaded_in_run(run_started_at: dt.datetime) -> RowScope:
    """Return the scope of the rows loaded since a run started; `run_started_at` may be aware or naive UTC."""
    if run_started_at.tzinfo is not None:
        run_started_at = run_started_at.astimezone(dt.UTC).replace(tzinfo=None)
    return RowScope(loaded_since=run_started_at)
