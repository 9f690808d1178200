"""Type a Parquet landing file from its columns, without turning rows into JSON documents.

Each contract field is read from the top-level column of the same name. Its text is what the JSON
path of typing_sql.py would take from the row as a JSON document, so both paths type and reject the
same values the same way. A row's raw text (the row as JSON) is built only for rejected rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from cs_warehouse.ingest.typing_sql import Field, value_text_sql, quote_identifier, sql_string, typing_select_sql

# Top-level event fields that Parquet files carry as JSON text. They are parsed back into JSON values,
# as if the row were a JSON Lines record with those fields as objects.
PARQUET_JSON_TEXT_FIELDS = ("properties", "traits", "context")


def _source_column(position: int) -> str:
    return f"__c{position}"


def parquet_json_value_sql(name: str, duckdb_type: str, column: str) -> str:
    """SQL for the column's value as a JSON value, as it appears in the row's JSON document."""
    if name in PARQUET_JSON_TEXT_FIELDS and duckdb_type == "VARCHAR":
        return f"case when json_valid({column}) then json({column}) else to_json({column}) end"
    return f"to_json({column})"


def _field_text_sql(field: Field, duckdb_type: str, column: str) -> str:
    # A VARCHAR column of a non-JSON kind is its own text: this skips the to_json round trip for the
    # common case and gives the same value (to_json(x) ->> '$' is x).
    if duckdb_type == "VARCHAR" and field.column.kind != "json" and field.path not in PARQUET_JSON_TEXT_FIELDS:
        if field.column.kind == "string":
            return f"(case when trim({column}) <> '' then {column} end)"
        return f"nullif(trim({column}), '')"
    return value_text_sql(field.column, parquet_json_value_sql(field.path, duckdb_type, column))


def _fallback_value_sql(path: str, schema: dict[str, tuple[str, str]]) -> str | None:
    """SQL for the JSON value at a dotted fallback path (context.groupId), NULL when its column is absent."""
    top, _, rest = path.partition(".")
    if top not in schema:
        return None
    duckdb_type, column = schema[top]
    value = parquet_json_value_sql(top, duckdb_type, column)
    if not rest:
        return value
    pointer = "/" + "/".join(segment.replace("~", "~0").replace("/", "~1") for segment in rest.split("."))
    return f"json_extract({value}, {sql_string(pointer)})"


def supports_tree(tree: dict[str, set[str]]) -> bool:
    """Return whether the contract reads top-level fields only, the case this module handles."""
    return set(tree) == {""}


def parquet_typed_sql(
    fields: Sequence[Field], tree: dict[str, set[str]], schema: Sequence[tuple[str, str]], path_parameter: str = "?"
) -> str:
    """Return a SELECT that types the Parquet file `path_parameter` whose (name, DuckDB type) columns are `schema`.

    The output has the columns of typing_select_sql plus `__line` (row index + 1) and `__raw`.
    """
    columns = {name: (duckdb_type, _source_column(i)) for i, (name, duckdb_type) in enumerate(schema)}
    renamed = ", ".join(f"{quote_identifier(name)} as {column}" for name, (_, column) in columns.items())
    source = (
        f"(select file_row_number + 1 as __line, null::varchar as __malformed, {renamed} "
        f"from read_parquet({path_parameter}, file_row_number = true))"
    )

    texts = []
    presents = []
    for field in fields:
        if field.path in columns:
            duckdb_type, column = columns[field.path]
            text = _field_text_sql(field, duckdb_type, column)
            # A column the file has is present in every row, also where it is null, as in a JSON document.
            present = "true"
        else:
            text, present = "null::varchar", "false"
        if field.fallback_path:
            fallback = _fallback_value_sql(field.fallback_path, columns)
            if fallback is not None:
                text = f"coalesce({text}, {value_text_sql(field.column, fallback)})"
                present = f"({present} or {fallback} is not null)"
        texts.append(text)
        presents.append(present)

    known = tree[""]
    unknown_entries = [
        f"{{'name': {sql_string(name)}, 'value': {parquet_json_value_sql(name, duckdb_type, column)}}}"
        for name, (duckdb_type, column) in sorted(columns.items())
        if name not in known
    ]
    if unknown_entries:
        # Fields whose value is null are skipped, as JSON nulls are on the JSON path.
        unknown = f"list_filter([{', '.join(unknown_entries)}], lambda e: e.value is not null)"
    else:
        unknown = "[]::struct(name varchar, value json)[]"
    extra = (
        "case when len(__unknown_fields) > 0 then to_json(map_from_entries(list_transform(__unknown_fields, "
        "lambda e: {'k': e.name, 'v': e.value})))::varchar end"
    )
    row_json = ", ".join(
        f"{quote_identifier(name)} := {parquet_json_value_sql(name, duckdb_type, column)}"
        for name, (duckdb_type, column) in columns.items()
    )
    return typing_select_sql(
        fields,
        source,
        ["__line"],
        texts,
        presents,
        unknown=unknown,
        extra=extra,
        parsed="true",
        raw=f"to_json(struct_pack({row_json}))::varchar",
    )
