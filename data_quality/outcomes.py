"""Per-expectation validation outcomes in a flat form shared by the warehouse table and Dagster metadata."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.expectations.metadata_types import FailureSeverity

# Rows of failing values kept per expectation, in the warehouse table and in Dagster metadata.
SAMPLE_SIZE = 5
# Lists longer than this in an expectation's kwargs (reference key sets) are cut when stored.
MAX_STORED_LIST = 20

SEVERITY_NAMES = {FailureSeverity.CRITICAL: "error", FailureSeverity.WARNING: "warning", FailureSeverity.INFO: "info"}


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation on one table in one run."""

    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    severity: str  # error or warning
    success: bool
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample: list[Any] = field(default_factory=list)
    exception: str | None = None


@dataclass
class SuiteOutcome:
    """The outcomes of one suite on one table in one run."""

    suite: str
    table: str
    asset_key: tuple[str, ...]
    run_id: str
    validated_at: dt.datetime
    engine: str  # pandas (GE's pandas engine), duckdb (SQL pushed into DuckDB), or none (no rows in scope)
    row_count: int  # rows validated: the table's, or the scope's
    outcomes: list[ExpectationOutcome]
    scope: str = "whole table"  # which rows were validated: data_quality.scope.RowScope.describe()
    # Run whose validation this outcome reuses, because suite and tables were unchanged; None when evaluated.
    reused_from: str | None = None

    def failures(self, severity: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == severity]


def to_jsonable(value: Any) -> Any:
    """Convert numpy, pandas and datetime values to plain JSON values; NaN and NaT become None."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    try:
        if value != value:  # pandas NA and NaT compare unequal to themselves
            return None
    except TypeError:  # pd.NA raises on bool()
        return None
    return str(value)


def shorten_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return kwargs fit for storage: long lists (reference key sets) cut to their first values."""
    stored: dict[str, Any] = {}
    for name, value in kwargs.items():
        if isinstance(value, (list, tuple)) and len(value) > MAX_STORED_LIST:
            stored[name] = [*to_jsonable(list(value[:MAX_STORED_LIST])), f"... {len(value)} values in all"]
        else:
            stored[name] = to_jsonable(value)
    return stored


def _sample(result: dict[str, Any], hidden_column: str | None) -> list[Any]:
    # Prefer whole identifying rows (the key columns next to the failing value) over bare values.
    rows = result.get("unexpected_index_list") or result.get("partial_unexpected_list") or []
    sample = to_jsonable(list(rows[:SAMPLE_SIZE]))
    if hidden_column is None:
        return sample
    return [{k: v for k, v in row.items() if k != hidden_column} if isinstance(row, dict) else row for row in sample]


def _column(kwargs: dict[str, Any], meta: dict[str, Any]) -> str | None:
    # A cross-source reference is validated on a derived flag column, and meta names the real one.
    if "column" in meta:
        return meta["column"]
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    return kwargs.get("column")


def outcome_from_result(result: ExpectationValidationResult) -> ExpectationOutcome:
    """Flatten one GE expectation result."""
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    meta = dict(config.meta or {})
    # The derived flag column of a cross-source reference adds nothing to a sample row.
    hidden_column = kwargs.get("column") if "references" in meta else None
    details = dict(result.result or {})
    exception = None
    if result.exception_info and result.exception_info.get("raised_exception"):
        exception = result.exception_info.get("exception_message")
    return ExpectationOutcome(
        expectation_type=config.type,
        column=_column(kwargs, meta),
        kwargs=shorten_kwargs({**{k: v for k, v in kwargs.items() if k != "batch_id"}, **({"meta": meta} if meta else {})}),
        severity=SEVERITY_NAMES[FailureSeverity(config.severity)],
        success=bool(result.success),
        observed_value=to_jsonable(details.get("observed_value")),
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=to_jsonable(details.get("unexpected_percent")),
        sample=_sample(details, hidden_column),
        exception=exception,
    )


def describe(outcome: ExpectationOutcome) -> str:
    """Return a one-line summary of a failing expectation for logs and check metadata."""
    target = f" on {outcome.column}" if outcome.column else ""
    if outcome.exception:
        return f"{outcome.expectation_type}{target} raised: {outcome.exception}"
    observed = outcome.observed_value
    if observed is None and outcome.unexpected_count is not None:
        observed = f"{outcome.unexpected_count} unexpected of {outcome.element_count} rows"
    return f"{outcome.expectation_type}{target}: observed {json.dumps(observed, default=str)}"
