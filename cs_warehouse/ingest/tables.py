"""SQL helpers shared by the entity and child-table loads: table names, counts and whole-file checks."""

from __future__ import annotations

import duckdb

from cs_warehouse.contract import RAW_SCHEMA, REJECTS_SCHEMA
from cs_warehouse.errors import LandingError
from cs_warehouse.ingest.typing_sql import Field

# Valid records of the load that won deduplication, before they are inserted.
WINNERS_TABLE = "__winners"


def raw_table(table: str) -> str:
    return f'{RAW_SCHEMA}."{table}"'


def rejects_table(table: str) -> str:
    return f'{REJECTS_SCHEMA}."{table}"'


def count_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    (value,) = con.execute(sql, params or []).fetchone()
    return int(value or 0)


def check_required_fields(
    con: duckdb.DuckDBPyConnection, relation: str, fields: list[Field], file_path: str, table: str, what: str
) -> None:
    """Raise LandingError when a required field is absent from every parsed record of the file."""
    required = [(i, f) for i, f in enumerate(fields) if f.column.required]
    if not required:
        return
    counts = ", ".join(f"count(*) filter (where __present_{i})" for i, _ in required)
    row = con.execute(f"select count(*), {counts} from {relation} where __parsed").fetchone()
    parsed, present = row[0], row[1:]
    if parsed == 0:
        return
    missing = [f.path for (_, f), count in zip(required, present) if count == 0]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise LandingError(
            f"{file_path}: required field {names} is absent from all {parsed} {what} of the file. "
            f"Add it to the export (raw.{table} needs it); raw.{table} was left unchanged."
        )


def unknown_field_counts(con: duckdb.DuckDBPyConnection, relation: str, where: str = "true") -> dict[str, int]:
    rows = con.execute(
        f"""
        select field.name, count(*)
        from (select unnest(__unknown_fields) as field from {relation} where {where})
        group by all
        order by 1
        """
    ).fetchall()
    return {name: int(count) for name, count in rows}
