"""Evaluate GE expectations as aggregate queries inside DuckDB, for tables too large for pandas.

Great Expectations' own SQL execution engine needs a SQLAlchemy dialect for DuckDB (duckdb-engine),
which this project does not install. This module covers the expectation types the suites use. It
returns GE `ExpectationValidationResult` objects with the fields GE's engines fill: observed value,
element, missing and unexpected counts, and a sample of failing values. So results from both
engines land in the same table and Data Docs. Only aggregates and a few sample rows leave DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from data_quality.outcomes import SAMPLE_SIZE

Condition = str  # a SQL predicate that is true for an unexpected (failing) row
Evaluation = tuple[bool, dict[str, Any]]  # success and GE's `result` dictionary
Connection = duckdb.DuckDBPyConnection
Kwargs = dict[str, Any]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal_list(con: duckdb.DuckDBPyConnection, values: list[Any]) -> str:
    # Value sets go in as a temporary table, so a set of any size needs no long SQL literal.
    con.execute("create or replace temporary table _dq_value_set (value varchar)")
    # cast(true as varchar) is 'true', so booleans are written in lowercase to compare equal.
    texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    con.executemany("insert into _dq_value_set values (?)", [[text] for text in texts])
    return "(select value from _dq_value_set)"


def _map_result(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    unexpected: Condition,
    mostly: float,
    index_columns: tuple[str, ...],
    count_nulls: bool = False,
) -> Evaluation:
    """Count rows matching `unexpected` and decide success the way GE's column map expectations do."""
    total, missing, failing = con.execute(
        f"select count(*), count(*) - count({quote(column)}), count(*) filter (where {unexpected}) from {table}"
    ).fetchone()
    denominator = total if count_nulls else total - missing
    sample_columns = ", ".join(quote(c) for c in dict.fromkeys((*index_columns, column)))
    sample_rows = con.execute(
        f"select {sample_columns} from {table} where {unexpected} limit {SAMPLE_SIZE}"
    ).fetchall()
    names = list(dict.fromkeys((*index_columns, column)))
    unexpected_percent = 100.0 * failing / denominator if denominator else 0.0
    success = denominator == 0 or (denominator - failing) / denominator >= mostly
    return success, {
        "element_count": total,
        "missing_count": missing,
        "missing_percent": 100.0 * missing / total if total else None,
        "unexpected_count": failing,
        "unexpected_percent": unexpected_percent,
        "partial_unexpected_list": [row[names.index(column)] for row in sample_rows],
        "unexpected_index_list": [dict(zip(names, row, strict=True)) for row in sample_rows],
    }


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Return the column names and DuckDB types of a table or view, in column order."""
    return {row[0]: row[1] for row in con.execute(f"describe {relation}").fetchall()}


def _row_count(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    count = con.execute(f"select count(*) from {table}").fetchone()[0]
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    success = (low is None or count >= low) and (high is None or count <= high)
    return success, {"observed_value": count}


def _column_exists(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    return kwargs["column"] in relation_columns(con, table), {}


def _type_list(
    con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...], meta: Kwargs | None = None
) -> Evaluation:
    observed = relation_columns(con, table).get(kwargs["column"])
    expected = (meta or {}).get("duckdb_type")
    return observed is not None and observed == expected, {"observed_value": observed}


def _not_null(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    column = kwargs["column"]
    return _map_result(
        con, table, column, f"{quote(column)} is null", kwargs.get("mostly", 1.0), index_columns, count_nulls=True
    )


def _in_set(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    column = kwargs["column"]
    values = _literal_list(con, list(kwargs["value_set"]))
    condition = f"{quote(column)} is not null and cast({quote(column)} as varchar) not in {values}"
    return _map_result(con, table, column, condition, kwargs.get("mostly", 1.0), index_columns)


def _between(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    column = kwargs["column"]
    bounds = []
    if kwargs.get("min_value") is not None:
        operator = ">" if kwargs.get("strict_min") else ">="
        bounds.append(f"not ({quote(column)} {operator} {_sql_value(kwargs['min_value'])})")
    if kwargs.get("max_value") is not None:
        operator = "<" if kwargs.get("strict_max") else "<="
        bounds.append(f"not ({quote(column)} {operator} {_sql_value(kwargs['max_value'])})")
    condition = f"{quote(column)} is not null and ({' or '.join(bounds) or 'false'})"
    return _map_result(con, table, column, condition, kwargs.get("mostly", 1.0), index_columns)


def _sql_value(value: Any) -> str:
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("'", "''")
    return f"'{text}'"


def _duplicate_condition(table: str, columns: list[str]) -> Condition:
    keys = ", ".join(quote(c) for c in columns)
    return f"({keys}) in (select ({keys}) from {table} group by {keys} having count(*) > 1)"


def _unique(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    column = kwargs["column"]
    condition = f"{quote(column)} is not null and {_duplicate_condition(table, [column])}"
    return _map_result(con, table, column, condition, kwargs.get("mostly", 1.0), index_columns)


def _compound_unique(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...]) -> Evaluation:
    columns = list(kwargs["column_list"])
    condition = _duplicate_condition(table, columns)
    return _map_result(con, table, columns[0], condition, kwargs.get("mostly", 1.0), tuple(columns), count_nulls=True)


EVALUATORS: dict[str, Callable[..., Evaluation]] = {
    "expect_table_row_count_to_be_between": _row_count,
    "expect_column_to_exist": _column_exists,
    "expect_column_values_to_be_in_type_list": _type_list,
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
}


def evaluate(
    con: duckdb.DuckDBPyConnection, table: str, expectation: Expectation, index_columns: tuple[str, ...]
) -> ExpectationValidationResult:
    """Evaluate one expectation on `table` in DuckDB. An unsupported type or a SQL error fails the expectation."""
    config = expectation.configuration
    evaluator = EVALUATORS.get(config.type)
    if evaluator is None:
        return _failed(config, f"{config.type} has no DuckDB translation; add one to {__name__}.EVALUATORS")
    kwargs = dict(config.kwargs)
    try:
        if evaluator is _type_list:
            success, result = _type_list(con, table, kwargs, index_columns, meta=config.meta)
        else:
            success, result = evaluator(con, table, kwargs, index_columns)
    except duckdb.Error as error:
        return _failed(config, f"{type(error).__name__}: {error}")
    return ExpectationValidationResult(success=success, expectation_config=config, result=result)


def _failed(config: ExpectationConfiguration, message: str) -> ExpectationValidationResult:
    return ExpectationValidationResult(
        success=False,
        expectation_config=config,
        result={},
        exception_info={"raised_exception": True, "exception_message": message, "exception_traceback": None},
    )
