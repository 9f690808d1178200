"""Load one landing entity into its raw tables: type, validate, reject, deduplicate, in one transaction.

Non-event entities are replaced whole whenever any of their files changed (an export is a full
snapshot). Events are appended file by file: a file whose path and content hash were loaded before is
skipped, and a message already in raw.events is kept unless the new copy was received earlier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cs_warehouse.contract import EVENTS, FUTURE_EVENT_TOLERANCE_SECONDS, Entity
from cs_warehouse.ingest import bookkeeping
from cs_warehouse.ingest.children import load_child
from cs_warehouse.ingest.files import LandingFile, find_landing_files
from cs_warehouse.ingest.readers import STAGE_TABLE, stage_file
from cs_warehouse.ingest.report import LOADED, NO_FILES, UNCHANGED, ChildReport, FileReport, LoadReport
from cs_warehouse.ingest.tables import (
    WINNERS_TABLE,
    check_required_fields,
    count_rows,
    raw_table,
    rejects_table,
    unknown_field_counts,
)
from cs_warehouse.ingest.typing_sql import Field, fields_for, known_tree, quote_identifier, sql_string, typed_select_sql
from cs_warehouse.raw_schema import create_raw_schema

LOGGER = logging.getLogger(__name__)

# Events read account_id from groupId and, when a call has none, from context.groupId.
EVENT_FALLBACK_PATHS = {"account_id": "context.groupId"}

TYPED_TABLE = "__typed"
BATCH_TABLE = "__batch"

LogFunction = Callable[[str], None]


def _table_fields(entity: Entity) -> list[Field]:
    return fields_for(entity.columns, EVENT_FALLBACK_PATHS if entity is EVENTS else None)


def _parent_tree(entity: Entity) -> dict[str, set[str]]:
    paths = [c.source_path for c in entity.columns] + [child.array_path for child in entity.children]
    return known_tree(paths)


# ---------------------------------------------------------------------------------------------
# One file


def _array_reasons(entity: Entity) -> list[str]:
    reasons = []
    for child in entity.children:
        path = "$." + child.array_path
        reasons.append(
            f"case when json_type(__doc, {sql_string(path)}) not in ('ARRAY', 'NULL') then "
            f"{sql_string(child.array_path + ': expected an array, found a JSON ')} || lower(json_type(__doc, {sql_string(path)})) end"
        )
    return reasons


def _load_file_into_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    landing_file: LandingFile,
    file_order: int,
    loaded_at: datetime,
) -> FileReport:
    """Stage, type and validate one file: rejects go to raw_rejects, valid records to the batch table."""
    stage_file(con, entity, landing_file)
    fields = _table_fields(entity)
    passthrough = ["__line", "__raw"]
    con.execute(f"drop table if exists {TYPED_TABLE}")
    con.execute(
        f"create temp table {TYPED_TABLE} as "
        + typed_select_sql(fields, STAGE_TABLE, passthrough, _parent_tree(entity), _array_reasons(entity))
    )
    check_required_fields(con, TYPED_TABLE, fields, landing_file.relative_path, entity.table, "records")

    con.execute(
        f"""
        insert into {rejects_table(entity.table)} (_source_file, _source_line, raw_record, reason, _loaded_at)
        select ?, __line, __raw, __reason, ? from {TYPED_TABLE} where __reason is not null order by __line
        """,
        [landing_file.relative_path, loaded_at],
    )
    keep_doc = ", __doc" if entity.children else ""
    columns = ", ".join(quote_identifier(f.column.name) for f in fields)
    con.execute(
        f"""
        insert into {BATCH_TABLE}
        select {file_order} as __file_order, __line, {columns}, __extra{keep_doc}
        from {TYPED_TABLE}
        where __reason is null
        """
    )
    report = FileReport(
        path=landing_file.relative_path,
        rows_read=count_rows(con, f"select count(*) from {TYPED_TABLE}"),
        rows_rejected=count_rows(con, f"select count(*) from {TYPED_TABLE} where __reason is not null"),
        unknown_fields=unknown_field_counts(con, TYPED_TABLE, "__doc is not null"),
    )
    con.execute(f"drop table {TYPED_TABLE}")
    con.execute(f"drop table {STAGE_TABLE}")
    return report


def _create_batch_table(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    columns = ", ".join(f"{quote_identifier(f.column.name)} {f.column.duckdb_type}" for f in _table_fields(entity))
    doc = ", __doc VARCHAR" if entity.children else ""
    con.execute(f"drop table if exists {BATCH_TABLE}")
    con.execute(f"create temp table {BATCH_TABLE} (__file_order INTEGER, __line BIGINT, {columns}, __extra VARCHAR{doc})")


# ---------------------------------------------------------------------------------------------
# Deduplication and insert


def _select_winners(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """Keep one record per key in __winners: the first by file and line, for events the first received."""
    key = ", ".join(quote_identifier(k) for k in entity.key)
    order = "received_at, __file_order, __line" if entity is EVENTS else "__file_order, __line"
    con.execute(f"drop table if exists {WINNERS_TABLE}")
    con.execute(
        f"""
        create temp table {WINNERS_TABLE} as
        select * exclude (__rank)
        from (select *, row_number() over (partition by {key} order by {order}) as __rank from {BATCH_TABLE})
        where __rank = 1
        """
    )


def _resolve_events_against_loaded(con: duckdb.DuckDBPyConnection, reports: list[FileReport]) -> None:
    """Drop candidates already loaded with an earlier or equal receivedAt; replace loaded rows received later."""
    superseded = con.execute(
        f"""
        select w.__file_order, count(*)
        from {WINNERS_TABLE} as w
        join {raw_table(EVENTS.table)} as e on e.message_id = w.message_id
        where w.received_at < e.received_at
        group by all
        """
    ).fetchall()
    for file_order, count in superseded:
        reports[file_order].rows_superseded = int(count)
    con.execute(
        f"""
        delete from {raw_table(EVENTS.table)} as e
        using {WINNERS_TABLE} as w
        where e.message_id = w.message_id and w.received_at < e.received_at
        """
    )
    con.execute(
        f"""
        delete from {WINNERS_TABLE} as w
        using {raw_table(EVENTS.table)} as e
        where e.message_id = w.message_id and e.received_at <= w.received_at
        """
    )


def _insert_parent_rows(con: duckdb.DuckDBPyConnection, entity: Entity, files: list[LandingFile], loaded_at: datetime) -> None:
    fields = _table_fields(entity)
    names = [f.column.name for f in fields]
    values = [quote_identifier(n) for n in names]
    if entity is EVENTS:
        names += ["event_at", "clock_skew_seconds", "is_future_dated"]
        event_at = 'case when sent_at is null then "timestamp" else received_at - (sent_at - "timestamp") end'
        values += [
            event_at,
            "date_diff('microsecond', received_at, sent_at) / 1000000.0",
            f"({event_at}) > received_at + interval {FUTURE_EVENT_TOLERANCE_SECONDS} second",
        ]
    paths = "[" + ", ".join(sql_string(f.relative_path) for f in files) + "]"
    target = ", ".join(quote_identifier(n) for n in names)
    con.execute(
        f"""
        insert into {raw_table(entity.table)} ({target}, _source_file, _source_line, _loaded_at, _extra)
        select {", ".join(values)}, {paths}[__file_order + 1], __line, ?, __extra
        from {WINNERS_TABLE}
        order by __file_order, __line
        """,
        [loaded_at],
    )


def _count_per_file(con: duckdb.DuckDBPyConnection, reports: list[FileReport]) -> None:
    for file_order, count in con.execute(f"select __file_order, count(*) from {WINNERS_TABLE} group by all").fetchall():
        reports[file_order].rows_loaded = int(count)
    for report in reports:
        report.duplicates_dropped = report.rows_read - report.rows_rejected - report.rows_loaded


# ---------------------------------------------------------------------------------------------
# Entry point


def _table_counts(con: duckdb.DuckDBPyConnection, entity: Entity, report: LoadReport) -> None:
    for table in [entity.table, *(child.table for child in entity.children)]:
        report.table_rows[table] = count_rows(con, f"select count(*) from {raw_table(table)}")
        report.rejected_rows[table] = count_rows(con, f"select count(*) from {rejects_table(table)}")


def _files_to_load(
    con: duckdb.DuckDBPyConnection, entity: Entity, files: list[LandingFile]
) -> tuple[list[LandingFile], bool]:
    """Return the files this load must read and whether it replaces the tables; no files means unchanged."""
    loaded = bookkeeping.current_fingerprints(con, entity.table)
    fingerprints = {(f.relative_path, f.size, f.content_hash) for f in files}
    if entity is EVENTS:
        return [f for f in files if (f.relative_path, f.size, f.content_hash) not in loaded], False
    if fingerprints == loaded:
        return [], False
    return files, True


def _clear_tables(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    for table in [entity.table, *(child.table for child in entity.children)]:
        con.execute(f"delete from {raw_table(table)}")
        con.execute(f"delete from {rejects_table(table)}")


def _load_in_transaction(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: list[LandingFile],
    replace: bool,
    loaded_at: datetime,
    log: LogFunction,
) -> tuple[list[FileReport], list[ChildReport]]:
    if replace:
        _clear_tables(con, entity)
    _create_batch_table(con, entity)
    reports = []
    for file_order, landing_file in enumerate(files):
        report = _load_file_into_batch(con, entity, landing_file, file_order, loaded_at)
        reports.append(report)

    _select_winners(con, entity)
    if entity is EVENTS:
        _resolve_events_against_loaded(con, reports)
    _count_per_file(con, reports)
    _insert_parent_rows(con, entity, files, loaded_at)
    children = [load_child(con, child, files, loaded_at) for child in entity.children]
    bookkeeping.record_file_loads(con, entity.table, files, reports, loaded_at, replace)

    for report in reports:
        if not report.is_balanced:
            raise RuntimeError(f"{report.path}: read != loaded + rejected + duplicates, a bug in ingestion: {report}")
        log(
            f"{report.path}: read {report.rows_read}, loaded {report.rows_loaded}, rejected {report.rows_rejected}, "
            f"duplicates {report.duplicates_dropped}"
            + (f", superseded {report.rows_superseded}" if report.rows_superseded else "")
            + (f", unknown fields {', '.join(report.unknown_fields)}" if report.unknown_fields else "")
        )
    return reports, children


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    landing_dir: Path | str,
    *,
    loaded_at: datetime | None = None,
    log: LogFunction | None = None,
) -> LoadReport:
    """Load an entity's landing files into raw.<table>, its child tables and raw_rejects, atomically.

    Creates the raw schemas when missing and sets the connection's time zone to UTC. Raises
    LandingError when a file cannot be read or lacks a required column; the transaction is then rolled
    back and every table is left as it was. `log` receives one line per file (default: this module's
    logger).
    """
    log = log or LOGGER.info
    loaded_at = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    con.execute("set TimeZone = 'UTC'")
    create_raw_schema(con)
    bookkeeping.create_meta_schema(con)

    files = find_landing_files(entity, Path(landing_dir))
    to_load, replace = _files_to_load(con, entity, files)
    report = LoadReport(table=entity.table, status=LOADED, unchanged_files=len(files) - len(to_load))

    if not files and not replace:
        report.status = NO_FILES
        log(f"raw.{entity.table}: no files match {', '.join(entity.patterns)} (or .gz) under {landing_dir}")
    elif not to_load and not replace:
        report.status = UNCHANGED
        log(f"raw.{entity.table}: all {len(files)} files unchanged since their last load; nothing to do")
    else:
        if not to_load:
            log(f"raw.{entity.table}: every file of the last load was removed from {landing_dir}; emptying its tables")
        con.execute("begin transaction")
        try:
            report.files, report.children = _load_in_transaction(con, entity, to_load, replace, loaded_at, log)
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
        for table in (STAGE_TABLE, TYPED_TABLE, BATCH_TABLE, WINNERS_TABLE):
            con.execute(f"drop table if exists {table}")

    _table_counts(con, entity, report)
    return report
