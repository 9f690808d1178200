"""Run an expectation suite against a DuckDB table with the engine its size allows, and render Data Docs.

Tables up to `PANDAS_MAX_ROWS` rows are read into pandas (only the columns the suite names) and
validated by Great Expectations' pandas engine through a dataframe data source, batch definition
and ValidationDefinition. Larger tables (raw.events can hold tens of millions of rows) are validated
by `duckdb_engine`, which pushes the suite into DuckDB as one aggregate query and a few others. Both
paths store the suite result in the GE project, so Data Docs show every table. A `RowScope` limits a
validation to the rows of recent loads (a partitioned run's new events).
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from cs_warehouse.text import counted
from data_quality import duckdb_engine
from data_quality.gx_project import SITE_NAME, prune_validation_results
from data_quality.outcomes import SAMPLE_SIZE, SuiteOutcome, outcome_from_result
from data_quality.scope import RowScope
from data_quality.suites import Suite

LOGGER = logging.getLogger(__name__)

# Tables above this many rows are validated inside DuckDB instead of by GE's pandas engine. Measured
# by `python -m data_quality.benchmark` (the raw.events suite through run_suite) on a shared 2-core
# machine, the pandas engine took 1.6-2.3 s at 10,000 rows, 2.4-2.5 s at 30,000, 4.0-4.2 s at
# 100,000, 8.5-8.8 s at 300,000 and 19-20 s at 1,000,000. The DuckDB engine took 1.1-1.6 s at each of
# these sizes. Up to 30,000 rows the pandas engine, GE's own implementation, costs at most about
# 1.5 s more. At 100,000 it is 3 to 4 times slower, and beyond that it grows by about 17 s per million rows.
PANDAS_MAX_ROWS = 30_000
DATASOURCE_NAME = "cs_warehouse"
BATCH_DEFINITION_NAME = "whole_table"


# Temporary view of the validated rows of the table plus the suite's derived columns.
SOURCE_VIEW = "_dq_source"
# Engine name recorded when a scoped validation found no rows and evaluated nothing.
NO_ENGINE = "none"


def source_relation(con: duckdb.DuckDBPyConnection, suite: Suite, scope: RowScope) -> str:
    """Return the relation to validate: the table itself, or a view of the scope's rows with the derived columns."""
    condition = scope.condition()
    if not suite.derived_columns and condition is None:
        return suite.table
    derived = "".join(f", {sql} as {duckdb_engine.quote(name)}" for name, sql in suite.derived_columns.items())
    where = f" where {condition}" if condition else ""
    con.execute(f"create or replace temporary view {SOURCE_VIEW} as select *{derived} from {suite.table}{where}")
    return SOURCE_VIEW


def _suite_columns(suite: Suite) -> list[str]:
    names: list[str] = list(suite.index_columns)
    for expectation in suite.suite.expectations:
        kwargs = expectation.configuration.kwargs
        if "column" in kwargs:
            names.append(kwargs["column"])
        names.extend(kwargs.get("column_list", []))
    return list(dict.fromkeys(names))


def _read_frame(con: duckdb.DuckDBPyConnection, suite: Suite, relation: str) -> pd.DataFrame:
    existing = set(duckdb_engine.relation_columns(con, relation))
    columns = [c for c in _suite_columns(suite) if c in existing]
    # A missing column is left out here; its expectations then fail with GE's missing-column error.
    select_list = ", ".join(duckdb_engine.quote(c) for c in columns) or "1 as _row"
    frame = con.execute(f"select {select_list} from {relation}").df()
    # NOTE: GE 1.24's type-list check does not recognise pandas 3's default "str" dtype, so text
    # columns are handed over as object columns, the dtype GE and pandas 2 use for strings.
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.StringDtype):
            frame[name] = frame[name].astype(object)
    return frame


def _batch_definition(context: FileDataContext, suite: Suite):
    datasource = context.data_sources.add_or_update_pandas(DATASOURCE_NAME)
    asset_names = {asset.name for asset in datasource.assets}
    asset = (
        datasource.get_asset(suite.table)
        if suite.table in asset_names
        else datasource.add_dataframe_asset(suite.table)
    )
    try:
        return asset.get_batch_definition(BATCH_DEFINITION_NAME)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)


def _validate_with_pandas(
    con: duckdb.DuckDBPyConnection, context: FileDataContext, suite: Suite, relation: str, run_id: RunIdentifier
) -> ExpectationSuiteValidationResult:
    frame = _read_frame(con, suite, relation)
    saved_suite = context.suites.add_or_update(suite.suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=_batch_definition(context, suite), suite=saved_suite)
    )
    index_columns = [c for c in suite.index_columns if c in frame.columns]
    result_format = {
        "result_format": "COMPLETE",
        "partial_unexpected_count": SAMPLE_SIZE,
        "unexpected_index_column_names": index_columns,
        "return_unexpected_index_query": False,
    }
    return definition.run(batch_parameters={"dataframe": frame}, result_format=result_format, run_id=run_id)


def _validate_in_duckdb(
    con: duckdb.DuckDBPyConnection, context: FileDataContext, suite: Suite, relation: str, run_id: RunIdentifier
) -> ExpectationSuiteValidationResult:
    existing = set(duckdb_engine.relation_columns(con, relation))
    index_columns = tuple(c for c in suite.index_columns if c in existing)
    results = duckdb_engine.evaluate_suite(con, relation, suite.suite.expectations, index_columns)
    successful = sum(1 for r in results if r.success)
    suite_result = ExpectationSuiteValidationResult(
        success=successful == len(results),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": 100.0 * successful / len(results) if results else None,
        },
        meta={"engine": "duckdb", "active_batch_definition": {"datasource_name": "duckdb",
                                                              "data_asset_name": suite.table}},
        batch_id=f"duckdb-{suite.table}",
    )
    suite_result.meta["run_id"] = run_id
    suite_result.meta["validation_time"] = run_id.run_time
    context.suites.add_or_update(suite.suite)
    context.validation_results_store.store_validation_results(
        suite_validation_result=suite_result,
        suite_validation_result_identifier=ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=suite_result.batch_id,
        ),
    )
    return suite_result


def _build_data_docs(context: FileDataContext, suite: Suite, result: ExpectationSuiteValidationResult,
                     run_id: RunIdentifier) -> None:
    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    result_id = ValidationResultIdentifier(
        expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=result.batch_id
    )
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[result_id, suite_id])


def _data_docs_run_name(run_id: str, scope: RowScope) -> str:
    # Data Docs list validations by run name, so a scoped validation names its rows there.
    return run_id if scope.is_whole_table else f"{run_id} ({scope.describe()})"


def validate_table(
    con: duckdb.DuckDBPyConnection,
    context: FileDataContext,
    suite: Suite,
    run_id: str,
    pandas_max_rows: int = PANDAS_MAX_ROWS,
    scope: RowScope | None = None,
) -> SuiteOutcome:
    """Validate `suite` against the scope's rows of its table, store the result and render its Data Docs page.

    A scope other than the whole table that selects no rows evaluates nothing: the outcome has no
    expectations, engine "none", and nothing is stored in the GE project.
    """
    scope = scope or RowScope()
    validated_at = dt.datetime.now(dt.UTC)
    gx_run_id = RunIdentifier(run_name=_data_docs_run_name(run_id, scope), run_time=validated_at)
    relation = source_relation(con, suite, scope)
    row_count = con.execute(f"select count(*) from {relation}").fetchone()[0]
    outcome = SuiteOutcome(
        suite=suite.name,
        table=suite.table,
        asset_key=suite.asset_key,
        run_id=run_id,
        validated_at=validated_at.replace(tzinfo=None),
        engine=NO_ENGINE,
        row_count=row_count,
        outcomes=[],
        scope=scope.describe(),
    )
    if row_count == 0 and not scope.is_whole_table:
        LOGGER.info("validated nothing in %s: no %s", suite.table, scope.describe())
        return outcome

    engine = "pandas" if row_count <= pandas_max_rows else "duckdb"
    if engine == "pandas":
        result = _validate_with_pandas(con, context, suite, relation, gx_run_id)
    else:
        result = _validate_in_duckdb(con, context, suite, relation, gx_run_id)
    prune_validation_results(context, suite.name)
    _build_data_docs(context, suite, result, gx_run_id)

    outcome.engine = engine
    outcome.outcomes = [outcome_from_result(r) for r in result.results]
    failed = sum(1 for o in outcome.outcomes if not o.success)
    LOGGER.info(
        "validated %s (%s: %s, %s engine): %d of %s failed",
        suite.table, outcome.scope, counted(row_count, "row"), engine, failed,
        counted(len(outcome.outcomes), "expectation"),
    )
    return outcome
