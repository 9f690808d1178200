"""Type a Parquet landing file from its columns, without turning rows into JSON documents.

Each contract field is read from the top-level column of the same name. Its text is what the JSON
path of typing_sql.py would take from the row as a JSON document, so both paths type and reject the
same values the same way. A row's raw text (the row as JSON) is built only for rejected rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cs_warehouse.ingest.typing_sql import (
    Field,
    extra_sql,
    quote_identifier,
    sql_string,
    typing_select_sql,
    value_text_sql,
)

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


# Parquet types a timestamp field is read from directly. Any other type goes through its text.
NATIVE_TIMESTAMP_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")


def _json_column(position: int) -> str:
    return f"__j{position}"


def _json_type_column(position: int) -> str:
    return f"__t{position}"


@dataclass(frozen=True)
class _SourceColumn:
    """One column of the Parquet file: its DuckDB type, its name in the query and its value as JSON."""

    duckdb_type: str
    column: str
    # SQL for the value as it appears in the row's JSON document. For a JSON text field it is a column
    # that the source query computes once, so each row's text is parsed once.
    json_value: str
    # For a JSON text field, the column with the JSON type of its text (NULL when the text is not JSON).
    json_type: str | None = None


def _is_native_timestamp(field: Field, source: _SourceColumn) -> bool:
    """Return whether a timestamp field is stored as a Parquet timestamp, so it is typed without its text.

    A field with a fallback path is typed from its text, because the fallback value is text.
    """
    return field.column.kind == "timestamp" and source.duckdb_type in NATIVE_TIMESTAMP_TYPES and not field.fallback_path


def _is_json_text(field: Field, source: _SourceColumn) -> bool:
    """Return whether a json field is read from a JSON text column, whose JSON type the source query has."""
    return field.column.kind == "json" and source.json_type is not None and not field.fallback_path


def _field_text_sql(field: Field, source: _SourceColumn) -> str:
    # A VARCHAR column of a non-JSON kind is its own text: this skips the to_json round trip for the
    # common case and gives the same value (to_json(x) ->> '$' is x).
    column = source.column
    if source.duckdb_type == "VARCHAR" and field.column.kind != "json" and field.path not in PARQUET_JSON_TEXT_FIELDS:
        if field.column.kind == "string":
            return f"(case when trim({column}) <> '' then {column} end)"
        return f"nullif(trim({column}), '')"
    if _is_native_timestamp(field, source):
        # The typed value comes from the column, and the text only feeds the reject reason, which quotes
        # non-finite values. So only those are cast to text, and '' stands for a valid value.
        return f"(case when isfinite({column}) then '' else {column}::varchar end)"
    if _is_json_text(field, source):
        # value_text_sql over the JSON value, with the type the source query found: text that is not
        # JSON is a JSON string of itself, so its text is the column's.
        kind, value = source.json_type, source.json_value
        return (
            f"(case when {kind} is null then {column} when {kind} = 'VARCHAR' then {value} ->> '$' "
            f"when {kind} <> 'NULL' then {value}::varchar end)"
        )
    return value_text_sql(field.column, source.json_value)


def _native_typed_sql(field: Field, source: _SourceColumn, position: int) -> str | None:
    """SQL for the field's typed value straight from a column of that type, None when it must go through text."""
    if _is_native_timestamp(field, source):
        # The session time zone is UTC, so both types become naive UTC, as their ISO text would.
        return f"(case when isfinite({source.column}) then {source.column}::timestamp end)"
    if _is_json_text(field, source):
        # typed_value_sql would parse the text again. An object or array is valid as it is; only a JSON
        # string can hold an object or array in its turn.
        kind, text = source.json_type, f"__text_{position}"
        return (
            f"(case when {kind} in ('OBJECT', 'ARRAY') then {text} when {kind} = 'VARCHAR' "
            f"and try(json_type({text})) in ('OBJECT', 'ARRAY') then {text} end)"
        )
    return None


def _fallback_value_sql(path: str, columns: dict[str, _SourceColumn]) -> str | None:
    """SQL for the JSON value at a dotted fallback path (context.groupId), NULL when its column is absent."""
    top, _, rest = path.partition(".")
    if top not in columns:
        return None
    value = columns[top].json_value
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
    columns: dict[str, _SourceColumn] = {}
    json_types = []
    json_columns = []
    for i, (name, duckdb_type) in enumerate(schema):
        column = _source_column(i)
        if name in PARQUET_JSON_TEXT_FIELDS and duckdb_type == "VARCHAR":
            # One parse for the type, one for the JSON value (as parquet_json_value_sql gives it).
            kind = _json_type_column(i)
            json_types.append(f"try(json_type({column})) as {kind}")
            json_columns.append(f"case when {kind} is not null then json({column}) else to_json({column}) end as {_json_column(i)}")
            columns[name] = _SourceColumn(duckdb_type, column, _json_column(i), kind)
        else:
            columns[name] = _SourceColumn(duckdb_type, column, parquet_json_value_sql(name, duckdb_type, column))
    renamed = ", ".join(f"{quote_identifier(name)} as {source.column}" for name, source in columns.items())
    typed_json = "".join(f", {expression}" for expression in json_types)
    parsed_json = "".join(f", {expression}" for expression in json_columns)
    source = (
        f"(select *{parsed_json} from (select *{typed_json} from (select file_row_number + 1 as __line, "
        f"null::varchar as __malformed, {renamed} from read_parquet({path_parameter}, file_row_number = true))))"
    )

    texts = []
    presents = []
    typed = {}
    for position, field in enumerate(fields):
        if field.path in columns:
            source_column = columns[field.path]
            text = _field_text_sql(field, source_column)
            native = _native_typed_sql(field, source_column, position)
            if native is not None:
                typed[position] = native
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
        f"{{'name': {sql_string(name)}, 'value': {source.json_value}}}"
        for name, source in sorted(columns.items())
        if name not in known
    ]
    if unknown_entries:
        # Fields whose value is null are skipped, as JSON nulls are on the JSON path.
        unknown = f"list_filter([{', '.join(unknown_entries)}], lambda e: e.value is not null)"
    else:
        unknown = "[]::struct(name varchar, value json)[]"
    row_json = ", ".join(
        f"{quote_identifier(name)} := {source.json_value}"
        for name, source in columns.items()
    )
    return typing_select_sql(
        fields,
        source,
        ["__line"],
        texts,
        presents,
        unknown=unknown,
        extra=extra_sql(),
        parsed="true",
        raw=f"to_json(struct_pack({row_json}))::varchar",
        typed=typed,
    )
