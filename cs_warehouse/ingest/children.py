"""Load a child table: the elements of a Stripe list (items.data, lines.data) of every loaded record."""

from __future__ import annotations

from datetime import datetime

import duckdb

from cs_warehouse.contract import ChildTable
from cs_warehouse.ingest.files import LandingFile
from cs_warehouse.ingest.report import ChildReport
from cs_warehouse.ingest.tables import (
    WINNERS_TABLE,
    check_required_fields,
    count_rows,
    raw_table,
    rejects_table,
    unknown_field_counts,
)
from cs_warehouse.ingest.typing_sql import fields_for, known_tree, quote_identifier, sql_string, typed_select_sql


def load_child(
    con: duckdb.DuckDBPyConnection, child: ChildTable, files: list[LandingFile], loaded_at: datetime
) -> ChildReport:
    """Unnest the child array of every loaded record, type, validate and deduplicate its elements."""
    parent_key = quote_identifier(child.parent_key)
    array_path = sql_string("$." + child.array_path + "[*]")
    con.execute("drop table if exists __child_stage")
    con.execute(
        f"""
        create temp table __child_stage as
        select __file_order, __line, {parent_key}, __element.index as __index, __element.doc::varchar as __raw,
            __element.doc::varchar as __doc, null::varchar as __malformed,
        from (
            select __file_order, __line, {parent_key},
                unnest(list_transform(coalesce(json_extract(__doc, {array_path}), []),
                    lambda element, i: {{'index': i, 'doc': element}})) as __element,
            from {WINNERS_TABLE}
        )
        """
    )
    fields = fields_for(child.columns)
    tree = known_tree([c.source_path for c in child.columns])
    passthrough = ["__file_order", "__line", parent_key, "__index", "__raw"]
    con.execute("drop table if exists __child_typed")
    con.execute("create temp table __child_typed as " + typed_select_sql(fields, "__child_stage", passthrough, tree))
    for file_order, landing_file in enumerate(files):
        check_required_fields(
            con,
            f"(select * from __child_typed where __file_order = {file_order})",
            fields,
            landing_file.relative_path,
            child.table,
            f"elements of {child.array_path}",
        )

    paths = "[" + ", ".join(sql_string(f.relative_path) for f in files) + "]"
    con.execute(
        f"""
        insert into {rejects_table(child.table)} (_source_file, _source_line, raw_record, reason, _loaded_at)
        select {paths}[__file_order + 1], __line, __raw,
            'element ' || __index || ' of {child.array_path}: ' || __reason, ?
        from __child_typed where __reason is not null order by __file_order, __line, __index
        """,
        [loaded_at],
    )
    key = ", ".join(quote_identifier(k) for k in child.key)
    names = [child.parent_key] + [f.column.name for f in fields]
    columns = ", ".join(quote_identifier(n) for n in names)
    inserted = con.execute(
        f"""
        insert into {raw_table(child.table)} ({columns}, _source_file, _source_line, _loaded_at, _extra)
        select {columns}, {paths}[__file_order + 1], __line, ?, __extra
        from (
            select *, row_number() over (partition by {key} order by __file_order, __line, __index) as __rank
            from __child_typed
            where __reason is null
        )
        where __rank = 1
        order by __file_order, __line, __index
        """,
        [loaded_at],
    ).fetchone()
    valid = count_rows(con, "select count(*) from __child_typed where __reason is null")
    report = ChildReport(
        table=child.table,
        rows_loaded=int(inserted[0]),
        rows_rejected=count_rows(con, "select count(*) from __child_typed where __reason is not null"),
        unknown_fields=unknown_field_counts(con, "__child_typed", "__parsed"),
    )
    report.duplicates_dropped = valid - report.rows_loaded
    con.execute("drop table __child_stage")
    con.execute("drop table __child_typed")
    return report
