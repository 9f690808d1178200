"""Evaluate GE expectations as aggregate queries inside DuckDB, for tables too large for pandas.

Great Expectations' own SQL execution engine needs a SQLAlchemy dialect for DuckDB (duckdb-engine),
which this project does not install. This module covers the expectation types the suites use. It
returns GE `ExpectationValidationResult` objects with the fields GE's engines fill: observed value,
element, missing and unexpected counts, and a sample of failing values. So results from both
engines land in the same table and Data Docs. Only aggregates and a few sample rows leave DuckDB.

`evaluate_suite` reads the table as few times as it can: one aggregate query computes the row count
and every column map expectation's counts with FILTER clauses, one GROUP BY query per uniqueness
expectation counts the duplicates, and only an expectation with unexpected rows runs a sample query.
Column existence and types come from the table's schema and need no scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

# Prefix of the temporary tables that hold value sets, one per in-set expectation of a suite.
VALUE_SET_TABLE_PREFIX = "_dq_value_set"


@dataclass(frozen=True)
class MapCheck:
    """A column map expectation as SQL: the rows for which `unexpected` is true fail it."""

    column: str
    unexpected: Condition
    mostly: float
    index_columns: tuple[str, ...]
    # The not-NULL and compound-unique expectations count NULL rows in the denominator; the others skip them.
    count_nulls: bool = False
    # Uniqueness expectations: the key columns, whose duplicates a GROUP BY counts.
    duplicate_keys: tuple[str, ...] = ()

    @property
    def sample_columns(self) -> list[str]:
        return list(dict.fromkeys((*self.index_columns, self.column)))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value_set(con: Connection, values: list[Any], slot: int) -> str:
    # Value sets go in as a temporary table, so a set of any size needs no long SQL literal.
    table = f"{VALUE_SET_TABLE_PREFIX}_{slot}"
    con.execute(f"create or replace temporary table {table} (value varchar)")
    # cast(true as varchar) is 'true', so booleans are written in lowercase to compare equal.
    texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    con.executemany(f"insert into {table} values (?)", [[text] for text in texts])
    return f"(select value from {table})"


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Return the column names and DuckDB types of a table or view, in column order."""
    return {row[0]: row[1] for row in con.execute(f"describe {relation}").fetchall()}


def _sql_value(value: Any) -> str:
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("'", "''")
    return f"'{text}'"


def _duplicate_condition(table: str, columns: Sequence[str]) -> Condition:
    keys = ", ".join(quote(c) for c in columns)
    return f"({keys}) in (select ({keys}) from {table} group by {keys} having count(*) > 1)"


# Builders of column map checks. `slot` numbers the value-set table of an in-set expectation.


def _not_null_check(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...], slot: int) -> MapCheck:
    column = kwargs["column"]
    return MapCheck(column, f"{quote(column)} is null", kwargs.get("mostly", 1.0), index_columns, count_nulls=True)


def _in_set_check(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...], slot: int) -> MapCheck:
    column = kwargs["column"]
    values = _value_set(con, list(kwargs["value_set"]), slot)
    condition = f"{quote(column)} is not null and cast({quote(column)} as varchar) not in {values}"
    return MapCheck(column, condition, kwargs.get("mostly", 1.0), index_columns)


def _between_check(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...], slot: int) -> MapCheck:
    column = kwargs["column"]
    bounds = []
    if kwargs.get("min_value") is not None:
        operator = ">" if kwargs.get("strict_min") else ">="
        bounds.append(f"not ({quote(column)} {operator} {_sql_value(kwargs['min_value'])})")
    if kwargs.get("max_value") is not None:
        operator = "<" if kwargs.get("strict_max") else "<="
        bounds.append(f"not ({quote(column)} {operator} {_sql_value(kwargs['max_value'])})")
    condition = f"{quote(column)} is not null and ({' or '.join(bounds) or 'false'})"
    return MapCheck(column, condition, kwargs.get("mostly", 1.0), index_columns)


def _unique_check(con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...], slot: int) -> MapCheck:
    column = kwargs["column"]
    condition = f"{quote(column)} is not null and {_duplicate_condition(table, [column])}"
    return MapCheck(column, condition, kwargs.get("mostly", 1.0), index_columns, duplicate_keys=(column,))


def _compound_unique_check(
    con: Connection, table: str, kwargs: Kwargs, index_columns: tuple[str, ...], slot: int
) -> MapCheck:
    columns = tuple(kwargs["column_list"])
    return MapCheck(
        columns[0],
        _duplicate_condition(table, columns),
        kwargs.get("mostly", 1.0),
        columns,
        count_nulls=True,
        duplicate_keys=columns,
    )


MAP_CHECKS: dict[str, Callable[..., MapCheck]] = {
    "expect_column_values_to_not_be_null": _not_null_check,
    "expect_column_values_to_be_in_set": _in_set_check,
    "expect_column_values_to_be_between": _between_check,
    "expect_column_values_to_be_unique": _unique_check,
    "expect_compound_columns_to_be_unique": _compound_unique_check,
}


def _duplicate_count(con: Connection, table: str, check: MapCheck) -> int:
    """Count the rows whose key occurs more than once, with the NULL handling of `_duplicate_condition`.

    DuckDB compares a row value of two or more columns with NULLs as equal (as GROUP BY does), but a
    single NULL column matches nothing, so only the one-column case leaves NULL keys out.
    """
    keys = ", ".join(quote(c) for c in check.duplicate_keys)
    where = f"where {quote(check.column)} is not null" if len(check.duplicate_keys) == 1 else ""
    (count,) = con.execute(
        f"select coalesce(sum(n), 0) from (select count(*) as n from {table} {where} group by {keys} having count(*) > 1)"
    ).fetchone()
    return int(count)


def _map_evaluation(
    con: Connection, table: str, check: MapCheck, total: int, non_null: int, failing: int
) -> Evaluation:
    """Decide success the way GE's column map expectations do, and sample the failing rows when there are any."""
    missing = total - non_null
    denominator = total if check.count_nulls else total - missing
    names = check.sample_columns
    sample_rows: list[tuple[Any, ...]] = []
    if failing:
        select_list = ", ".join(quote(c) for c in names)
        sample_rows = con.execute(
            f"select {select_list} from {table} where {check.unexpected} limit {SAMPLE_SIZE}"
        ).fetchall()
    unexpected_percent = 100.0 * failing / denominator if denominator else 0.0
    success = denominator == 0 or (denominator - failing) / denominator >= check.mostly
    return success, {
        "element_count": total,
        "missing_count": missing,
        "missing_percent": 100.0 * missing / total if total else None,
        "unexpected_count": failing,
        "unexpected_percent": unexpected_percent,
        "partial_unexpected_list": [row[names.index(check.column)] for row in sample_rows],
        "unexpected_index_list": [dict(zip(names, row, strict=True)) for row in sample_rows],
    }


def _map_result(con: Connection, table: str, check: MapCheck) -> Evaluation:
    """Evaluate one column map expectation with its own count query."""
    total, non_null, failing = con.execute(
        f"select count(*), count({quote(check.column)}), count(*) filter (where {check.unexpected}) from {table}"
    ).fetchone()
    return _map_evaluation(con, table, check, total, non_null, failing)


def _row_count_evaluation(count: int, kwargs: Kwargs) -> Evaluation:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    success = (low is None or count >= low) and (high is None or count <= high)
    return success, {"observed_value": count}


def _schema_evaluation(config: ExpectationConfiguration, columns: dict[str, str]) -> Evaluation:
    """Evaluate a column-existence or column-type expectation from the relation's schema."""
    column = config.kwargs["column"]
    if config.type == "expect_column_to_exist":
        return column in columns, {}
    observed = columns.get(column)
    expected = (config.meta or {}).get("duckdb_type")
    return observed is not None and observed == expected, {"observed_value": observed}


SCHEMA_TYPES = frozenset({"expect_column_to_exist", "expect_column_values_to_be_in_type_list"})
ROW_COUNT_TYPE = "expect_table_row_count_to_be_between"
SUPPORTED_TYPES = frozenset({*SCHEMA_TYPES, ROW_COUNT_TYPE, *MAP_CHECKS})


def evaluate(
    con: duckdb.DuckDBPyConnection, table: str, expectation: Expectation, index_columns: tuple[str, ...]
) -> ExpectationValidationResult:
    """Evaluate one expectation on `table` with its own queries. An unsupported type or a SQL error fails it."""
    config = expectation.configuration
    if config.type not in SUPPORTED_TYPES:
        return _unsupported(config)
    try:
        if config.type in SCHEMA_TYPES:
            success, result = _schema_evaluation(config, relation_columns(con, table))
        elif config.type == ROW_COUNT_TYPE:
            (count,) = con.execute(f"select count(*) from {table}").fetchone()
            success, result = _row_count_evaluation(count, dict(config.kwargs))
        else:
            check = MAP_CHECKS[config.type](con, table, dict(config.kwargs), index_columns, 0)
            success, result = _map_result(con, table, check)
    except duckdb.Error as error:
        return _failed(config, f"{type(error).__name__}: {error}")
    return ExpectationValidationResult(success=success, expectation_config=config, result=result)


def _referenced_columns(config: ExpectationConfiguration, index_columns: tuple[str, ...]) -> list[str]:
    kwargs = config.kwargs
    names = [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list", []))
    return [*names, *index_columns]


def evaluate_suite(
    con: duckdb.DuckDBPyConnection,
    table: str,
    expectations: Sequence[Expectation],
    index_columns: tuple[str, ...],
) -> list[ExpectationValidationResult]:
    """Evaluate all expectations of a suite on `table` in one aggregate scan plus the queries it cannot share.

    Returns the results in the order of `expectations`, equal to what `evaluate` returns for each.
    An expectation on a missing column, or one whose SQL fails in the shared query, is evaluated on
    its own by `evaluate`, so its error message names only that expectation.
    """
    columns = relation_columns(con, table)
    results: dict[int, ExpectationValidationResult] = {}
    checks: dict[int, MapCheck] = {}
    row_count_positions: list[int] = []
    for position, expectation in enumerate(expectations):
        config = expectation.configuration
        if config.type in SCHEMA_TYPES:
            success, result = _schema_evaluation(config, columns)
            results[position] = ExpectationValidationResult(success=success, expectation_config=config, result=result)
        elif config.type == ROW_COUNT_TYPE:
            row_count_positions.append(position)
        elif config.type in MAP_CHECKS and all(c in columns for c in _referenced_columns(config, index_columns)):
            checks[position] = MAP_CHECKS[config.type](con, table, dict(config.kwargs), index_columns, position)
        else:
            results[position] = evaluate(con, table, expectation, index_columns)

    try:
        total, counts = _aggregate(con, table, checks)
    except duckdb.Error:
        # NOTE: one bad expression fails the shared query, so every check then runs alone to isolate it.
        for position in [*row_count_positions, *checks]:
            results[position] = evaluate(con, table, expectations[position], index_columns)
        return [results[position] for position in range(len(expectations))]

    for position in row_count_positions:
        config = expectations[position].configuration
        success, result = _row_count_evaluation(total, dict(config.kwargs))
        results[position] = ExpectationValidationResult(success=success, expectation_config=config, result=result)
    for position, check in checks.items():
        config = expectations[position].configuration
        try:
            non_null, failing = counts[position]
            if check.duplicate_keys:
                failing = _duplicate_count(con, table, check)
            success, result = _map_evaluation(con, table, check, total, non_null, failing)
        except duckdb.Error as error:
            results[position] = _failed(config, f"{type(error).__name__}: {error}")
            continue
        results[position] = ExpectationValidationResult(success=success, expectation_config=config, result=result)
    return [results[position] for position in range(len(expectations))]


def _aggregate(con: Connection, table: str, checks: dict[int, MapCheck]) -> tuple[int, dict[int, tuple[int, int]]]:
    """Return the row count and, per check position, (non-NULL count of its column, unexpected count).

    A uniqueness check gets only its non-NULL count here, because a GROUP BY counts its duplicates.
    """
    counted_columns = list(dict.fromkeys(check.column for check in checks.values()))
    select_list = ["count(*)"]
    select_list += [f"count({quote(column)})" for column in counted_columns]
    filtered = [position for position, check in checks.items() if not check.duplicate_keys]
    select_list += [f"count(*) filter (where {checks[position].unexpected})" for position in filtered]
    row = con.execute(f"select {', '.join(select_list)} from {table}").fetchone()

    total = int(row[0])
    non_null = dict(zip(counted_columns, row[1 : 1 + len(counted_columns)], strict=True))
    failing = dict(zip(filtered, row[1 + len(counted_columns) :], strict=True))
    return total, {position: (non_null[check.column], failing.get(position, 0)) for position, check in checks.items()}


def _unsupported(config: ExpectationConfiguration) -> ExpectationValidationResult:
    return _failed(config, f"{config.type} has no DuckDB translation; add one to {__name__}.MAP_CHECKS")


def _failed(config: ExpectationConfiguration, message: str) -> ExpectationValidationResult:
    return ExpectationValidationResult(
        success=False,
        expectation_config=config,
        result={},
        exception_info={"raised_exception": True, "exception_message": message, "exception_traceback": None},
    )
