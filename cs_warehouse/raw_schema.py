"""DDL of the raw and raw_rejects tables, derived from the landing contract."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb

from cs_warehouse.contract import (
    ENTITIES,
    EVENT_DERIVED_COLUMNS,
    EVENTS,
    RAW_SCHEMA,
    REJECTS_SCHEMA,
    ChildTable,
    Column,
    Entity,
)

_LOAD_METADATA_DDL = "_source_file VARCHAR, _source_line BIGINT, _loaded_at TIMESTAMP, _extra VARCHAR"
_REJECTS_DDL = "_source_file VARCHAR, _source_line BIGINT, raw_record VARCHAR, reason VARCHAR, _loaded_at TIMESTAMP"


def raw_columns(table: Entity | ChildTable) -> tuple[Column, ...]:
    """Return the contract columns of a raw table, with the parent key first for child tables."""
    if isinstance(table, ChildTable):
        parent = next(e for e in ENTITIES if table in e.children)
        return (parent.column(table.parent_key), *table.columns)
    if table is EVENTS:
        return (*table.columns, *EVENT_DERIVED_COLUMNS)
    return table.columns


def raw_tables() -> Iterator[Entity | ChildTable]:
    """Yield every raw table of the contract: each entity, then its child tables."""
    for entity in ENTITIES:
        yield entity
        yield from entity.children


def create_table_sql(table: Entity | ChildTable, schema: str = RAW_SCHEMA) -> str:
    """Return the CREATE TABLE statement of a raw table: contract columns, then load metadata."""
    columns = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in raw_columns(table))
    return f'create table if not exists {schema}."{table.table}" ({columns}, {_LOAD_METADATA_DDL})'


def create_rejects_sql(table: Entity | ChildTable) -> str:
    return f'create table if not exists {REJECTS_SCHEMA}."{table.table}" ({_REJECTS_DDL})'


def create_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and raw_rejects schemas and every table in them, leaving existing tables as they are."""
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(f"create schema if not exists {REJECTS_SCHEMA}")
    for table in raw_tables():
        con.execute(create_table_sql(table))
        con.execute(create_rejects_sql(table))
