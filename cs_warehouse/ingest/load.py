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
from cs_warehouse.ingest.files import DayWindow, LandingFile, find_landing_files, matching_paths
from cs_warehouse.ingest.parquet_sql import parquet_typed_sql, supports_tree
from cs_warehouse.ingest.readers import STAGE_TABLE, raise_unreadable, stage_file
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
from cs_warehouse.text import counted

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


def _type_file(
    con: duckdb.DuckDBPyConnection, entity: Entity, landing_file: LandingFile, loaded_at: datetime
) -> FileReport:
    """Type and validate one file into the typed table and write its rejects to raw_rejects."""
    fields = _table_fields(entity)
    con.execute(f"drop table if exists {TYPED_TABLE}")
    if landing_file.format_suffix == "parquet" and not entity.children and supports_tree(_parent_tree(entity)):
        _type_parquet_file(con, fields, _parent_tree(entity), landing_file)
    else:
        stage_file(con, entity, landing_file)
        con.execute(
            f"create temp table {TYPED_TABLE} as "
            + typed_select_sql(fields, STAGE_TABLE, ["__line", "__raw"], _parent_tree(entity), _array_reasons(entity))
        )
        con.execute(f"drop table {STAGE_TABLE}")
    check_required_fields(con, TYPED_TABLE, fields, landing_file.relative_path, entity.table, "records")

    con.execute(
        f"""
        insert into {rejects_table(entity.table)} (_source_file, _source_line, raw_record, reason, _loaded_at)
        select ?, __line, __raw, __reason, ? from {TYPED_TABLE} where __reason is not null order by __line
        """,
        [landing_file.relative_path, loaded_at],
    )
    return FileReport(
        path=landing_file.relative_path,
        rows_read=count_rows(con, f"select count(*) from {TYPED_TABLE}"),
        rows_rejected=count_rows(con, f"select count(*) from {TYPED_TABLE} where __reason is not null"),
        unknown_fields=unknown_field_counts(con, TYPED_TABLE, "__parsed"),
    )


def _load_file_into_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    landing_file: LandingFile,
    file_order: int,
    loaded_at: datetime,
) -> FileReport:
    """Type and validate one file: rejects go to raw_rejects, valid records to the batch table."""
    report = _type_file(con, entity, landing_file, loaded_at)
    keep_doc = ", __doc" if entity.children else ""
    columns = ", ".join(quote_identifier(f.column.name) for f in _table_fields(entity))
    con.execute(
        f"""
        insert into {BATCH_TABLE}
        select {file_order} as __file_order, __line, {columns}, __extra{keep_doc}
        from {TYPED_TABLE}
        where __reason is null
        """
    )
    con.execute(f"drop table {TYPED_TABLE}")
    return report


def _type_parquet_file(
    con: duckdb.DuckDBPyConnection, fields: list[Field], tree: dict[str, set[str]], landing_file: LandingFile
) -> None:
    """Create the typed table straight from the Parquet file's columns (no JSON round trip)."""
    path = str(landing_file.path)
    try:
        schema = [(name, duckdb_type) for name, duckdb_type, *_ in
                  con.execute("describe select * from read_parquet(?)", [path]).fetchall()]
        con.execute(f"create temp table {TYPED_TABLE} as " + parquet_typed_sql(fields, tree, schema), [path])
    except (duckdb.InvalidInputException, duckdb.IOException) as error:
        raise_unreadable(landing_file, "Parquet", error)


def _create_batch_table(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    columns = ", ".join(f"{quote_identifier(f.column.name)} {f.column.duckdb_type}" for f in _table_fields(entity))
    doc = ", __doc VARCHAR" if entity.children else ""
    con.execute(f"drop table if exists {BATCH_TABLE}")
    con.execute(f"create temp table {BATCH_TABLE} (__file_order INTEGER, __line BIGINT, {columns}, __extra VARCHAR{doc})")


# ---------------------------------------------------------------------------------------------
# Deduplication and insert


def _select_winners(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """Keep one record per key in __winners: the first by file and line."""
    key = ", ".join(quote_identifier(k) for k in entity.key)
    order = "__file_order, __line"
    con.execute(f"drop table if exists {WINNERS_TABLE}")
    con.execute(
        f"""
        create temp table {WINNERS_TABLE} as
        select * exclude (__rank)
        from (select *, row_number() over (partition by {key} order by {order}) as __rank from {BATCH_TABLE})
        where __rank = 1
        """
    )


def _parent_values(entity: Entity) -> tuple[list[str], list[str]]:
    """Return the raw column names to insert and the SQL values for them; events add their derived columns."""
    names = [f.column.name for f in _table_fields(entity)]
    values = [quote_identifier(n) for n in names]
    if entity is EVENTS:
        names += ["event_at", "clock_skew_seconds", "is_future_dated"]
        event_at = 'case when sent_at is null then "timestamp" else received_at - (sent_at - "timestamp") end'
        values += [
            event_at,
            "date_diff('microsecond', received_at, sent_at) / 1000000.0",
            f"({event_at}) > received_at + interval {FUTURE_EVENT_TOLERANCE_SECONDS} second",
        ]
    return names, values


def _insert_parent_rows(con: duckdb.DuckDBPyConnection, entity: Entity, files: list[LandingFile], loaded_at: datetime) -> None:
    names, values = _parent_values(entity)
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
# Events: appended file by file
#
# Each file is typed, deduplicated within itself and resolved against raw.events (which by then contains
# the earlier files of this load too), then inserted. So memory and sort sizes are bounded by one file,
# not by the whole load. The file's losers are then deleted from the typed table, and its winners are
# inserted by a filtered scan of that one table, with no sort by line: DuckDB documents that a WHERE
# over one table and a UNION ALL keep the row order (its "order preservation" page).
# On a 12.5 million-row Parquet file the insert took 8.4 s this way and 20.7 s with the sort.
#
# A file with fewer valid rows than EVENT_APPEND_MIN_ROWS is not inserted at once: its rows wait in
# __pending until enough have gathered. DuckDB writes a large append to the database file while the
# transaction runs. Measured on 10 million events, a small append between large ones made the commit
# write the later appends itself (8.5 of 34 seconds).

# message_id and file of every row this load inserted, to tell a row of this load from an older one.
LOAD_MESSAGES_TABLE = "__load_messages"
# Rows of the typed file that are not inserted: later copies within the file, or already loaded.
LOSERS_TABLE = "__losers"
# Valid rows of the typed file whose message_id is already in raw.events.
CONFLICTS_TABLE = "__conflicts"
# message_id of the rows of this load that replaced a row of an earlier load (few).
SUPERSEDING_TABLE = "__superseding"
# Winners of small files not yet appended to raw.events, in file and line order.
PENDING_TABLE = "__pending"
EVENT_LOAD_TABLES = (LOAD_MESSAGES_TABLE, LOSERS_TABLE, CONFLICTS_TABLE, SUPERSEDING_TABLE, PENDING_TABLE)
# Minimum rows per insert into raw.events, except the load's last: between the largest append measured
# to slow the commit (544,783 rows) and the smallest measured not to (2.7 million).
# NOTE: the bound comes from these measurements on DuckDB 2.0.1, not from a documented DuckDB rule, so
# appends between 0.5 and 2.7 million rows, or another DuckDB version, may behave differently.
EVENT_APPEND_MIN_ROWS = 2_000_000


def _drop_file_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Fill __losers with the lines of valid records whose message_id has an earlier-received copy in the file."""
    # Most message ids are unique, so only the repeated ones are ranked.
    con.execute(
        f"""
        create temp table {LOSERS_TABLE} as
        with repeated as (
            select message_id from {TYPED_TABLE} where __reason is null group by message_id having count(*) > 1
        )
        select __line
        from (
            select t.__line, row_number() over (partition by t.message_id order by t.received_at, t.__line) as __rank
            from {TYPED_TABLE} as t
            semi join repeated using (message_id)
            where t.__reason is null
        )
        where __rank > 1
        """
    )


def _resolve_file_against_loaded(con: duckdb.DuckDBPyConnection, reports: list[FileReport], file_order: int) -> None:
    """Replace loaded rows that this file's copy was received before; drop its copies received no earlier."""
    conflicts = CONFLICTS_TABLE
    con.execute(f"drop table if exists {conflicts}")
    con.execute(
        f"""
        create temp table {conflicts} as
        select t.__line, t.message_id, t.received_at < e.received_at as __replaces
        from {TYPED_TABLE} as t
        join (
            select message_id, received_at from {raw_table(EVENTS.table)}
            union all
            select message_id, received_at from {PENDING_TABLE}
        ) as e using (message_id)
        where t.__reason is null and t.__line not in (select __line from {LOSERS_TABLE})
        """
    )

    if count_rows(con, f"select count(*) from {conflicts}") == 0:
        con.execute(f"drop table {conflicts}")
        return
    # Only now look up which replaced rows this load inserted itself: the conflicts are few, the
    # message ids of the load are many.
    replaced = con.execute(
        f"""
        select m.__file_order, s.message_id is not null as __was_superseding, count(*)
        from {conflicts} as c
        left join {LOAD_MESSAGES_TABLE} as m using (message_id)
        left join {SUPERSEDING_TABLE} as s using (message_id)
        where c.__replaces
        group by all
        """
    ).fetchall()

    for loaded_by, was_superseding, count in replaced:
        if loaded_by is not None:
            # A row of an earlier file of this load becomes a duplicate of that file, and the
            # replacement of an earlier load's row, if it was one, moves to this file.
            reports[loaded_by].rows_loaded -= int(count)
            if was_superseding:
                reports[loaded_by].rows_superseded -= int(count)
        if loaded_by is None or was_superseding:
            reports[file_order].rows_superseded += int(count)
    con.execute(
        f"""
        insert into {SUPERSEDING_TABLE}
        select c.message_id
        from {conflicts} as c
        anti join {LOAD_MESSAGES_TABLE} as m using (message_id)
        where c.__replaces
        """
    )

    for table in (raw_table(EVENTS.table), PENDING_TABLE, LOAD_MESSAGES_TABLE):
        con.execute(
            f"""
            delete from {table} as e
            using {conflicts} as c
            where e.message_id = c.message_id and c.__replaces
            """
        )
    con.execute(f"insert into {LOSERS_TABLE} select __line from {conflicts} where not __replaces")
    con.execute(f"drop table {conflicts}")


def _append_pending(con: duckdb.DuckDBPyConnection, target: str) -> None:
    con.execute(f"insert into {raw_table(EVENTS.table)} ({target}) select {target} from {PENDING_TABLE}")
    con.execute(f"delete from {PENDING_TABLE}")


def load_event_files(con: duckdb.DuckDBPyConnection, files: list[LandingFile], loaded_at: datetime) -> list[FileReport]:
    """Append the events of each file to raw.events: the copy of a message received first wins."""
    names, values = _parent_values(EVENTS)
    target = ", ".join(quote_identifier(n) for n in [*names, "_source_file", "_source_line", "_loaded_at", "_extra"])
    con.execute(f"drop table if exists {LOAD_MESSAGES_TABLE}")
    con.execute(f"create temp table {LOAD_MESSAGES_TABLE} (message_id VARCHAR, __file_order INTEGER)")
    con.execute(f"drop table if exists {SUPERSEDING_TABLE}")
    con.execute(f"create temp table {SUPERSEDING_TABLE} (message_id VARCHAR)")
    con.execute(f"drop table if exists {PENDING_TABLE}")
    con.execute(f"create temp table {PENDING_TABLE} as select {target} from {raw_table(EVENTS.table)} limit 0")
    reports: list[FileReport] = []
    for file_order, landing_file in enumerate(files):
        reports.append(_type_file(con, EVENTS, landing_file, loaded_at))
        con.execute(f"drop table if exists {LOSERS_TABLE}")
        _drop_file_duplicates(con)
        _resolve_file_against_loaded(con, reports, file_order)
        if count_rows(con, f"select count(*) from {LOSERS_TABLE}"):
            con.execute(f"delete from {TYPED_TABLE} where __line in (select __line from {LOSERS_TABLE})")
        winners = f"from {TYPED_TABLE} where __reason is null"
        pending = count_rows(con, f"select count(*) from {PENDING_TABLE}")
        file_rows = count_rows(con, f"select count(*) {winners}")
        file_select = f"select {', '.join(values)}, ?, __line, ?, __extra {winners}"
        parameters = [landing_file.relative_path, loaded_at]
        # Rows keep file and line order in raw.events: once rows wait, the next file's rows go behind them.
        if pending + file_rows < EVENT_APPEND_MIN_ROWS:
            con.execute(f"insert into {PENDING_TABLE} ({target}) {file_select}", parameters)
        elif pending == 0:
            con.execute(f"insert into {raw_table(EVENTS.table)} ({target}) {file_select}", parameters)
        else:
            con.execute(
                f"insert into {raw_table(EVENTS.table)} ({target}) "
                f"select {target} from {PENDING_TABLE} union all {file_select}",
                parameters,
            )
            con.execute(f"delete from {PENDING_TABLE}")
        reports[file_order].rows_loaded += file_rows
        con.execute(f"insert into {LOAD_MESSAGES_TABLE} select message_id, {file_order} {winners}")
        con.execute(f"drop table {TYPED_TABLE}")
        con.execute(f"drop table {LOSERS_TABLE}")
    _append_pending(con, target)
    for report in reports:
        report.duplicates_dropped = report.rows_read - report.rows_rejected - report.rows_loaded
    for table in (LOAD_MESSAGES_TABLE, SUPERSEDING_TABLE, PENDING_TABLE):
        con.execute(f"drop table {table}")
    return reports


# ---------------------------------------------------------------------------------------------
# Entry point


def _table_counts(con: duckdb.DuckDBPyConnection, entity: Entity, report: LoadReport) -> None:
    for table in [entity.table, *(child.table for child in entity.children)]:
        report.table_rows[table] = count_rows(con, f"select count(*) from {raw_table(table)}")
        report.rejected_rows[table] = count_rows(con, f"select count(*) from {rejects_table(table)}")


def _files_to_load(
    con: duckdb.DuckDBPyConnection, entity: Entity, files: list[LandingFile]
) -> tuple[list[LandingFile], bool]:
    """Return the files this load must read and whether it replaces the tables.

    An entity with no files at all keeps what it loaded before: a landing folder pointed at the wrong
    place, or an export that failed to arrive, must not wipe the warehouse.
    """
    if not files:
        return [], False
    loaded = bookkeeping.current_fingerprints(con, entity.table)
    fingerprints = {(f.relative_path, f.size, f.content_hash) for f in files}
    if entity is EVENTS:
        return [f for f in files if (f.relative_path, f.size, f.content_hash) not in loaded], False
    if fingerprints == loaded:
        return [], False
    return files, True


def _log_new_files_outside(
    con: duckdb.DuckDBPyConnection, entity: Entity, landing_dir: Path, window: DayWindow, log: LogFunction
) -> None:
    """Log the files dated outside the window whose path was never loaded, which this run leaves alone."""
    loaded_paths = {path for path, _, _ in bookkeeping.current_fingerprints(con, entity.table)}
    waiting = sorted(
        relative_path
        for relative_path in (p.relative_to(landing_dir).as_posix() for p in matching_paths(entity, landing_dir))
        if not window.includes(relative_path) and relative_path not in loaded_paths
    )
    if waiting:
        listed = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
        log(
            f"raw.{entity.table}: {counted(len(waiting), 'new file')} dated outside this run's days, left unloaded "
            f"until a run covers their days: {listed}"
        )


def _clear_tables(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    for table in [entity.table, *(child.table for child in entity.children)]:
        con.execute(f"delete from {raw_table(table)}")
        con.execute(f"delete from {rejects_table(table)}")


def _load_snapshot_files(
    con: duckdb.DuckDBPyConnection, entity: Entity, files: list[LandingFile], loaded_at: datetime
) -> tuple[list[FileReport], list[ChildReport]]:
    """Type every file into one batch, keep the first record per key, insert it, then load the child tables."""
    _create_batch_table(con, entity)
    reports = [
        _load_file_into_batch(con, entity, landing_file, file_order, loaded_at)
        for file_order, landing_file in enumerate(files)
    ]
    _select_winners(con, entity)
    _count_per_file(con, reports)
    _insert_parent_rows(con, entity, files, loaded_at)
    children = [load_child(con, child, files, loaded_at) for child in entity.children]
    return reports, children


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
    if entity is EVENTS:
        reports = load_event_files(con, files, loaded_at)
        children: list[ChildReport] = []
    else:
        reports, children = _load_snapshot_files(con, entity, files, loaded_at)
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
    warn: LogFunction | None = None,
    window: DayWindow | None = None,
) -> LoadReport:
    """Load an entity's landing files into raw.<table>, its child tables and raw_rejects, atomically.

    Creates the raw schemas when missing and sets the connection's time zone to UTC. Raises
    LandingError when a file cannot be read or lacks a required column. The transaction is then rolled
    back, so every table is left as it was. `log` receives one line per file (default: this module's
    logger). `warn` receives the line that says no file matches (default: this module's logger, as a
    warning), because a missing export or a wrong landing folder shows there. `window` limits an
    event load to the files of those days (see DayWindow); snapshot entities take no window, because
    each load replaces them whole.
    """
    log = log or LOGGER.info
    warn = warn or LOGGER.warning
    loaded_at = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    con.execute("set TimeZone = 'UTC'")
    create_raw_schema(con)
    bookkeeping.create_meta_schema(con)

    if window is not None and entity is not EVENTS:
        raise ValueError(f"raw.{entity.table} is loaded whole from its snapshot files; only events take a window")
    files = find_landing_files(entity, Path(landing_dir), window)
    if window is not None and not window.is_open:
        _log_new_files_outside(con, entity, Path(landing_dir), window, log)
    to_load, replace = _files_to_load(con, entity, files)
    report = LoadReport(table=entity.table, status=LOADED, unchanged_files=len(files) - len(to_load))

    if not files:
        report.status = NO_FILES
        scope = f" among the {window.describe()}" if window is not None and not window.is_open else ""
        warn(
            f"raw.{entity.table}: no files match {', '.join(entity.patterns)} (or .gz) under {landing_dir}{scope}; "
            "rows loaded earlier, if any, are kept"
        )
    elif not to_load and not replace:
        report.status = UNCHANGED
        log(f"raw.{entity.table}: {counted(len(files), 'file')} unchanged since the last load; nothing to do")
    else:
        con.execute("begin transaction")
        try:
            report.files, report.children = _load_in_transaction(con, entity, to_load, replace, loaded_at, log)
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
        temporary = (STAGE_TABLE, TYPED_TABLE, BATCH_TABLE, WINNERS_TABLE, *EVENT_LOAD_TABLES)
        for table in temporary:
            con.execute(f"drop table if exists {table}")

    _table_counts(con, entity, report)
    return report
