"""Validate one warehouse table end to end: build its suite, validate, store results and Data Docs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from cs_warehouse.errors import CswError
from data_quality.gx_project import open_context
from data_quality.outcomes import SuiteOutcome
from data_quality.scope import RowScope
from data_quality.results_table import write_outcome
from data_quality.reuse import find_reusable, record_fingerprint, validation_fingerprint
from data_quality.suites import Suite
from data_quality.validation import PANDAS_MAX_ROWS, validate_table

SuiteBuilder = Callable[[duckdb.DuckDBPyConnection], Suite]


def run_suite_on(
    con: duckdb.DuckDBPyConnection,
    data_docs: Path,
    build_suite: SuiteBuilder,
    run_id: str,
    pandas_max_rows: int = PANDAS_MAX_ROWS,
    scope: RowScope | None = None,
    reuse: bool = False,
) -> SuiteOutcome:
    """Validate through an open read-write connection and write the rows to data_quality.validation_results.

    With `reuse`, a whole-table validation whose suite and tables are unchanged since an earlier one
    takes that one's outcome (data_quality.reuse); `outcome.reused_from` then names its run.
    """
    scope = scope or RowScope()
    fingerprint = None
    try:
        suite = build_suite(con)
        if reuse and scope.is_whole_table:
            fingerprint = validation_fingerprint(con, suite, pandas_max_rows)
            reusable = find_reusable(con, suite, fingerprint, run_id)
            if reusable is not None:
                outcome, validated_by = reusable
                outcome.reused_from = validated_by
                write_outcome(con, outcome)
                record_fingerprint(con, outcome, fingerprint)
                return outcome
        outcome = validate_table(
            con, open_context(data_docs), suite, run_id, pandas_max_rows=pandas_max_rows, scope=scope
        )
    except duckdb.CatalogException as error:
        raise CswError(
            f"data quality validation could not read its table: {error}. Materialize the asset that "
            "builds the table before running its checks."
        ) from error
    write_outcome(con, outcome)
    if fingerprint is not None:
        record_fingerprint(con, outcome, fingerprint)
    return outcome


def run_suite(
    warehouse: Path,
    data_docs: Path,
    build_suite: SuiteBuilder,
    run_id: str,
    pandas_max_rows: int = PANDAS_MAX_ROWS,
    scope: RowScope | None = None,
) -> SuiteOutcome:
    """Open the warehouse for the length of one validation, as `run_suite_on` does with a given connection."""
    with duckdb.connect(str(warehouse)) as con:
        return run_suite_on(con, data_docs, build_suite, run_id, pandas_max_rows, scope)
