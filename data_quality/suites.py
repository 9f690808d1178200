"""Expectation suites of the raw tables, written as code and derived from the landing contract.

Each raw table gets one suite. Severity follows one rule: a failure that makes downstream numbers
wrong is an error (GE's `critical`, which blocks the Dagster run), and a failure that is normal in
small amounts or only degrades a detail is a warning. The per-expectation choices are listed in
docs/data_quality.md.

Some expectations depend on the warehouse when the suite is built: a cross-source reference becomes
a boolean column that DuckDB derives only when both columns exist, and the future-date limit is the
table's latest load time plus a tolerance. So suites are built right before each validation, from an
open DuckDB connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import great_expectations as gx
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from cs_warehouse.contract import (
    CRM_ACCOUNTS,
    EVENTS,
    FUTURE_EVENT_TOLERANCE_SECONDS,
    LOAD_METADATA_COLUMNS,
    RAW_SCHEMA,
    ChildTable,
    Column,
    Entity,
)
from cs_warehouse.raw_schema import raw_columns, raw_tables

ERROR = FailureSeverity.CRITICAL
WARNING = FailureSeverity.WARNING

# pandas dtypes that DuckDB's `.df()` returns for each DuckDB column type, without and with NULLs,
# spelled the way GE's type-list check resolves them (pandas class names for the nullable dtypes).
# Text columns are converted to object before validation (see data_quality.validation).
PANDAS_DTYPES = {
    "VARCHAR": ["object", "str"],
    "BIGINT": ["int64", "Int64Dtype"],
    "DOUBLE": ["float64", "Float64Dtype"],
    "BOOLEAN": ["bool", "BooleanDtype"],
    "TIMESTAMP": ["datetime64[us]", "datetime64[ns]"],
    "DATE": ["datetime64[us]", "datetime64[ns]"],
}

# Timestamps that record something that already happened, so a value after the load is an error in
# the source system's clock or time zone. Scheduled times (period ends, due dates, scheduled
# cancellations, trial ends) are left out because they lie in the future by design.
PAST_TIMESTAMP_COLUMNS = frozenset(
    {
        "created_at",
        "answered_at",
        "occurred_at",
        "first_response_at",
        "resolved_at",
        "left_at",
        "canceled_at",
        "ended_at",
        "paid_at",
        "event_created_at",
        "received_at",
    }
)

# Share of future-dated events above which the events feed is treated as broken (error). Below it,
# any future-dated event is a warning: a few clients with wrong clocks are normal.
MAX_FUTURE_DATED_EVENT_SHARE = 0.05

# Tables every other source refers to: an empty one is an error, any other empty table a warning.
REQUIRED_NONEMPTY_TABLES = frozenset({CRM_ACCOUNTS.table})


@dataclass(frozen=True)
class Reference:
    """A column whose values must exist as keys of another raw table."""

    table: str
    column: str
    parent_table: str
    parent_column: str
    severity: FailureSeverity


# Cross-source references. Errors break joins the marts rely on (revenue without an account);
# warnings lose a detail (an event of an unknown account, an uncatalogued event name).
REFERENCES: tuple[Reference, ...] = (
    Reference("crm_accounts", "owner_csm_id", "crm_csms", "csm_id", WARNING),
    Reference("crm_contacts", "account_id", "crm_accounts", "account_id", ERROR),
    Reference("crm_tickets", "account_id", "crm_accounts", "account_id", ERROR),
    Reference("crm_nps_responses", "account_id", "crm_accounts", "account_id", ERROR),
    Reference("crm_nps_responses", "contact_id", "crm_contacts", "contact_id", WARNING),
    Reference("crm_cs_activities", "account_id", "crm_accounts", "account_id", ERROR),
    Reference("crm_cs_activities", "csm_id", "crm_csms", "csm_id", WARNING),
    Reference("billing_customers", "account_id", "crm_accounts", "account_id", ERROR),
    Reference("billing_subscriptions", "customer_id", "billing_customers", "customer_id", ERROR),
    Reference("billing_subscription_items", "price_id", "billing_prices", "price_id", ERROR),
    Reference("billing_subscription_events", "customer_id", "billing_customers", "customer_id", ERROR),
    Reference("billing_subscription_event_items", "price_id", "billing_prices", "price_id", ERROR),
    Reference("billing_invoices", "customer_id", "billing_customers", "customer_id", ERROR),
    Reference("billing_invoices", "subscription_id", "billing_subscriptions", "subscription_id", WARNING),
    Reference("billing_invoice_lines", "price_id", "billing_prices", "price_id", WARNING),
    Reference("billing_credit_notes", "invoice_id", "billing_invoices", "invoice_id", ERROR),
    Reference("billing_credit_notes", "customer_id", "billing_customers", "customer_id", ERROR),
    Reference("events", "account_id", "crm_accounts", "account_id", WARNING),
    Reference("events", "event_name", "catalog_features", "event_name", WARNING),
)


@dataclass
class Suite:
    """An expectation suite bound to the warehouse table and Dagster asset it validates."""

    suite: gx.ExpectationSuite
    table: str  # schema-qualified, e.g. raw.crm_accounts
    asset_key: tuple[str, ...]
    # Columns that identify a row; failing-row samples show them.
    index_columns: tuple[str, ...] = ()
    # Boolean columns computed in DuckDB next to the table's own (name -> SQL expression), so a
    # rule across tables becomes a one-column expectation on both engines.
    derived_columns: dict[str, str] = field(default_factory=dict)
    # Other tables the derived columns read (schema-qualified), whose changes change the result.
    reads: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.suite.name


def new_suite(name: str, table: str, asset_key: Sequence[str], index_columns: Sequence[str]) -> Suite:
    return Suite(gx.ExpectationSuite(name=name), table, tuple(asset_key), tuple(index_columns))


def add(suite: Suite, expectation: Expectation) -> None:
    suite.suite.expectations.append(expectation)


def raw_table_names() -> list[str]:
    return [t.table for t in raw_tables()]


def raw_table(table: str) -> Entity | ChildTable:
    for candidate in raw_tables():
        if candidate.table == table:
            return candidate
    raise KeyError(f"no raw table named {table!r}; known tables: {raw_table_names()}")


def references_of(table: str) -> list[Reference]:
    return [r for r in REFERENCES if r.table == table]


def referenced_tables(table: str) -> list[str]:
    """Return the raw tables a table's suite reads besides the table itself."""
    return sorted({r.parent_table for r in references_of(table)} - {table})


def _key_columns(table: Entity | ChildTable) -> tuple[str, ...]:
    return tuple(table.key)


def _add_schema_expectations(suite: Suite, columns: Sequence[Column]) -> None:
    for column in columns:
        add(suite, gx.expectations.ExpectColumnToExist(column=column.name, severity=ERROR))
        add(
            suite,
            gx.expectations.ExpectColumnValuesToBeInTypeList(
                column=column.name,
                type_list=PANDAS_DTYPES[column.duckdb_type],
                severity=ERROR,
                meta={"duckdb_type": column.duckdb_type},
            ),
        )
    for name in LOAD_METADATA_COLUMNS:
        add(suite, gx.expectations.ExpectColumnToExist(column=name, severity=ERROR))


def _add_key_expectations(suite: Suite, key: tuple[str, ...], required: Sequence[Column]) -> None:
    # Ingestion rejects rows without a required value, so a NULL here means a loader defect.
    for name in dict.fromkeys((*key, *(c.name for c in required))):
        add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column=name, severity=ERROR))
    if len(key) == 1:
        add(suite, gx.expectations.ExpectColumnValuesToBeUnique(column=key[0], severity=ERROR))
    else:
        add(suite, gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(key), severity=ERROR))


def _add_value_expectations(suite: Suite, columns: Sequence[Column]) -> None:
    # The contract's allowed values and ranges: ingestion rejects rows outside them, so a value that
    # reaches raw anyway is an error. NULLs pass these expectations (GE skips them), so optional
    # columns stay optional.
    for column in columns:
        if column.allowed is not None:
            add(
                suite,
                gx.expectations.ExpectColumnValuesToBeInSet(
                    column=column.name, value_set=list(column.allowed), severity=ERROR
                ),
            )
        if column.minimum is not None or column.maximum is not None:
            add(
                suite,
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=column.name, min_value=column.minimum, max_value=column.maximum, severity=ERROR
                ),
            )


def reference_flag(reference: Reference) -> str:
    """Return the name of the derived column that is true when the reference resolves."""
    return f"{reference.column}__exists_in__{reference.parent_table}"


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [RAW_SCHEMA, table],
    ).fetchall()
    return {row[0] for row in rows}


def _add_reference_expectations(suite: Suite, con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Expect every non-NULL value of a referencing column to exist in the referenced table.

    DuckDB computes one flag per reference (a semi-join), so the key set of the other table never
    leaves the warehouse. When either column is missing the flag is not derived, and its
    expectation fails as a missing column.
    """
    own_columns = _table_columns(con, table)
    for reference in references_of(table):
        flag = reference_flag(reference)
        if reference.column in own_columns and reference.parent_column in _table_columns(con, reference.parent_table):
            column, parent = f'"{reference.column}"', f'"{reference.parent_column}"'
            suite.derived_columns[flag] = (
                f"{column} is null or {column} in "
                f'(select {parent} from {RAW_SCHEMA}."{reference.parent_table}")'
            )
            suite.reads = tuple(dict.fromkeys((*suite.reads, f"{RAW_SCHEMA}.{reference.parent_table}")))
        suite.index_columns = tuple(dict.fromkeys((*suite.index_columns, reference.column)))
        add(
            suite,
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=flag,
                value_set=[True],
                severity=reference.severity,
                meta={
                    "column": reference.column,
                    "references": f"{RAW_SCHEMA}.{reference.parent_table}.{reference.parent_column}",
                },
            ),
        )


def _latest_load(con: duckdb.DuckDBPyConnection, table: str) -> dt.datetime | None:
    row = con.execute(f'select max(_loaded_at) from {RAW_SCHEMA}."{table}"').fetchone()
    return row[0] if row else None


def _add_future_expectations(
    suite: Suite, con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[Column]
) -> None:
    """Expect past-event timestamps to lie before the table's latest load time plus the tolerance."""
    loaded_at = _latest_load(con, table)
    if loaded_at is None:
        return
    latest_allowed = loaded_at + dt.timedelta(seconds=FUTURE_EVENT_TOLERANCE_SECONDS)
    for column in columns:
        if column.name in PAST_TIMESTAMP_COLUMNS and column.kind in ("timestamp", "epoch"):
            add(
                suite,
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=column.name,
                    max_value=latest_allowed,
                    severity=WARNING,
                    meta={"rule": "not after the latest load plus the future-date tolerance"},
                ),
            )


def _add_event_expectations(suite: Suite) -> None:
    # Ingestion flags each event dated after receivedAt plus the tolerance. A few such events are
    # client clock trouble (warning); a large share points at a time-zone bug in the feed (error).
    add(
        suite,
        gx.expectations.ExpectColumnValuesToBeInSet(column="is_future_dated", value_set=[False], severity=WARNING),
    )
    add(
        suite,
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="is_future_dated",
            value_set=[False],
            mostly=1 - MAX_FUTURE_DATED_EVENT_SHARE,
            severity=ERROR,
        ),
    )
    add(suite, gx.expectations.ExpectColumnValuesToNotBeNull(column="event_at", severity=ERROR))


def build_raw_suite(con: duckdb.DuckDBPyConnection, table: str) -> Suite:
    """Build the suite of one raw table; `con` supplies the columns of referenced tables and the latest load time."""
    contract_table = raw_table(table)
    columns = raw_columns(contract_table)
    key = _key_columns(contract_table)
    suite = new_suite(f"{RAW_SCHEMA}.{table}", f"{RAW_SCHEMA}.{table}", (RAW_SCHEMA, table), key)

    row_count_severity = ERROR if table in REQUIRED_NONEMPTY_TABLES else WARNING
    add(suite, gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, severity=row_count_severity))
    _add_schema_expectations(suite, columns)
    _add_key_expectations(suite, key, [c for c in columns if c.required])
    _add_value_expectations(suite, columns)
    _add_reference_expectations(suite, con, table)
    _add_future_expectations(suite, con, table, columns)
    if contract_table is EVENTS:
        _add_event_expectations(suite)
    return suite
