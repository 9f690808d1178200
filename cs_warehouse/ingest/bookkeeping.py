"""raw_meta.file_loads: one row per landing file per load, the record that makes loads idempotent."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from cs_warehouse.ingest.files import LandingFile
from cs_warehouse.ingest.report import FileReport

META_SCHEMA = "raw_meta"
FILE_LOADS_TABLE = f"{META_SCHEMA}.file_loads"

FILE_LOADS_DDL = f"""
    create table if not exists {FILE_LOADS_TABLE} (
        table_name VARCHAR,
        load_number BIGINT,
        file_path VARCHAR,
        file_size BIGINT,
        content_hash VARCHAR,
        rows_read BIGINT,
        rows_loaded BIGINT,
        rows_rejected BIGINT,
        duplicates_dropped BIGINT,
        rows_superseded BIGINT,
        unknown_fields VARCHAR,
        loaded_at TIMESTAMP,
        is_current BOOLEAN
    )
"""


def create_meta_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {META_SCHEMA}")
    con.execute(FILE_LOADS_DDL)


def current_fingerprints(con: duckdb.DuckDBPyConnection, table: str) -> set[tuple[str, int, str]]:
    """Return (path, size, hash) of the files whose rows the raw table contains now."""
    rows = con.execute(
        f"select file_path, file_size, content_hash from {FILE_LOADS_TABLE} where table_name = ? and is_current",
        [table],
    ).fetchall()
    return {(path, size, content_hash) for path, size, content_hash in rows}


def current_file_reports(con: duckdb.DuckDBPyConnection, table: str) -> list[FileReport]:
    """Return the recorded counts of the files whose rows the raw table contains now."""
    rows = con.execute(
        f"""
        select file_path, rows_read, rows_loaded, rows_rejected, duplicates_dropped, rows_superseded, unknown_fields
        from {FILE_LOADS_TABLE}
        where table_name = ? and is_current
        order by load_number, file_path
        """,
        [table],
    ).fetchall()
    return [
        FileReport(path, read, loaded, rejected, duplicates, superseded, json.loads(unknown or "{}"))
        for path, read, loaded, rejected, duplicates, superseded, unknown in rows
    ]


def record_file_loads(
    con: duckdb.DuckDBPyConnection,
    table: str,
    files: list[LandingFile],
    reports: list[FileReport],
    loaded_at: datetime,
    replace: bool,
) -> None:
    """Append one row per loaded file; on a replace, earlier loads of the table stop being current."""
    if replace:
        con.execute(f"update {FILE_LOADS_TABLE} set is_current = false where table_name = ? and is_current", [table])
    (load_number,) = con.execute(
        f"select coalesce(max(load_number), 0) + 1 from {FILE_LOADS_TABLE} where table_name = ?", [table]
    ).fetchone()
    for landing_file, report in zip(files, reports, strict=True):
        con.execute(
            f"insert into {FILE_LOADS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true)",
            [
                table,
                load_number,
                landing_file.relative_path,
                landing_file.size,
                landing_file.content_hash,
                report.rows_read,
                report.rows_loaded,
                report.rows_rejected,
                report.duplicates_dropped,
                report.rows_superseded,
                json.dumps(report.unknown_fields, sort_keys=True),
                loaded_at,
            ],
        )
