"""Generate the SQL that types and validates landing records by the contract's column kinds.

The input is a relation with a JSON document per record (`__doc`, see readers.py), or for Parquet the
file's own columns (see parquet_sql.py). The output has
one typed column per contract column, `__extra` (JSON text of the fields the contract does not
name), `__unknown_fields` (their dotted names and JSON values) and `__reason` (why the record is
rejected, NULL when valid).
Every value is first taken as text, so a CSV "42", a JSON 42 and a Parquet 42 type the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cs_warehouse.contract import Column

# Maximum number of characters of a rejected value quoted in a reason. raw_record keeps the whole record.
MAX_QUOTED_VALUE_CHARS = 80

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")

# Range of epoch seconds DuckDB timestamps hold: 0001-01-01 to 9999-12-31.
MIN_EPOCH_SECONDS = -62135596800
MAX_EPOCH_SECONDS = 253402300799

INVALID_KIND_MESSAGES = {
    "integer": "invalid integer",
    "float": "invalid number",
    "boolean": "invalid boolean (expected true/false, 1/0 or yes/no)",
    "timestamp": "invalid timestamp (expected ISO-8601 text)",
    "epoch": "invalid Unix timestamp (expected seconds since 1970-01-01)",
    "date": "invalid date (expected YYYY-MM-DD)",
    "json": "invalid JSON object or array",
}


def sql_string(text: str) -> str:
    """Return `text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def json_pointer(dotted_path: str) -> str:
    """Return the RFC 6901 JSON pointer of a dotted contract path (`metadata.account_id` -> `/metadata/account_id`)."""
    segments = (segment.replace("~", "~0").replace("/", "~1") for segment in dotted_path.split("."))
    return "/" + "/".join(segments)


@dataclass(frozen=True)
class Field:
    """One typed output column and where its value is read from in the record."""

    column: Column
    path: str
    # Read when `path` has no value (events: account_id falls back to context.groupId).
    fallback_path: str | None = None

    @property
    def label(self) -> str:
        """Name used in reject reasons: the raw column, plus the landing field when it differs."""
        if self.path == self.column.name:
            return self.column.name
        return f"{self.column.name} ({self.path})"


def fields_for(columns: Sequence[Column], fallbacks: dict[str, str] | None = None) -> list[Field]:
    fallbacks = fallbacks or {}
    return [Field(c, c.source_path, fallbacks.get(c.name)) for c in columns]


# ---------------------------------------------------------------------------------------------
# Unknown fields


def known_tree(paths: Sequence[str]) -> dict[str, set[str]]:
    """Map each known object path ("" for the record itself) to the keys the contract reads there.

    A path the contract reads whole (a json column, a child array) is a leaf: nothing under it counts
    as unknown. Keys of a known object that the contract does not read are the unknown fields.
    """
    tree: dict[str, set[str]] = {"": set()}
    for path in paths:
        segments = path.split(".")
        for depth, segment in enumerate(segments):
            prefix = ".".join(segments[:depth])
            tree.setdefault(prefix, set()).add(segment)
    leaves = set(paths)
    return {prefix: keys for prefix, keys in tree.items() if prefix not in leaves}


def _key_pointer(key: str) -> str:
    """SQL for the JSON pointer of the object key held in the SQL expression `key`."""
    return f"'/' || replace(replace({key}, '~', '~0'), '/', '~1')"


def object_map_sql(obj: str) -> str:
    """SQL for the JSON object `obj` as a MAP of key to JSON value, read in one parse.

    NULL when `obj` is not an object, and also for an object that repeats a key.
    """
    return f"""json_transform({obj}, '"MAP(VARCHAR, JSON)"')"""


def unknown_fields_sql(tree: dict[str, set[str]], objects: Mapping[str, str], maps: Mapping[str, str]) -> str:
    """Return a SQL list of {name, value} structs: the record's fields the contract does not read.

    For each known object path of `tree`, `objects` gives SQL for the JSON object found there and
    `maps` a column with that object as a MAP (see object_map_sql). Fields whose value is JSON null
    carry nothing (a Parquet column left empty), so they are skipped. An object that repeats a key has
    no MAP; its fields are then read key by key, each from a new parse of the object.
    """
    parts = []
    for prefix, keys in sorted(tree.items()):
        obj, object_map = objects[prefix], maps[prefix]
        name_prefix = sql_string(f"{prefix}." if prefix else "")
        known = "[" + ", ".join(sql_string(k) for k in sorted(keys)) + "]::varchar[]"
        from_map = (
            f"list_transform(list_filter(map_entries({object_map}), lambda e: not list_contains({known}, e.key) "
            f"and e.value is not null), lambda e: {{'name': {name_prefix} || e.key, 'value': e.value}})"
        )
        key_by_key = (
            f"list_transform(list_filter(json_keys({obj}), lambda k: not list_contains({known}, k) "
            f"and json_type({obj}, {_key_pointer('k')}) <> 'NULL'), "
            f"lambda k: {{'name': {name_prefix} || k, 'value': json_extract({obj}, {_key_pointer('k')})}})"
        )
        parts.append(
            f"(case when {object_map} is not null then {from_map} "
            f"when json_type({obj}) = 'OBJECT' then {key_by_key} else [] end)"
        )
    return "list_sort(list_distinct(flatten([" + ", ".join(parts) + "])))"


def repeated_unknown_name_sql(unknown: str = "__unknown_fields") -> str:
    """SQL for the first name that two entries of the sorted, distinct unknown-field list share, else NULL.

    A key with dots in it can spell the name of a nested field ("a.b" beside {"a": {"b": ...}}). With
    different values the two cannot both go into `_extra`, whose keys are the names.
    """
    names = f"list_transform({unknown}, lambda e: e.name)"
    return f"list_filter({names}, lambda name, i: i > 1 and name = {unknown}[i - 1].name)[1]"


def repeated_unknown_reason_sql(unknown: str = "__unknown_fields") -> str:
    """SQL for the reject reason of a record whose unknown fields repeat a name, NULL when none does."""
    name = repeated_unknown_name_sql(unknown)
    return (
        f"case when {name} is not null then 'unknown field ' || {name} || ' is given twice with different "
        "values, by a key with dots in its name and by nested objects; rename the key in the export' end"
    )


def extra_sql(unknown: str = "__unknown_fields") -> str:
    """Return SQL for `_extra`: a JSON object of the unknown fields and their values, NULL when none."""
    return (
        f"case when len({unknown}) > 0 then to_json(map_from_entries(list_transform({unknown}, "
        f"lambda e: {{'k': e.name, 'v': e.value}})))::varchar end"
    )


# ---------------------------------------------------------------------------------------------
# Typing


def value_text_sql(column: Column, value: str) -> str:
    """SQL for the value as text, NULL when absent, JSON null or blank."""
    if column.kind == "json":
        # A JSON string that itself contains JSON (Parquet, or a producer that double-encodes) is unwrapped.
        return f"(case when json_type({value}) = 'VARCHAR' then {value} ->> '$' when json_type({value}) <> 'NULL' then {value}::varchar end)"
    text = f"({value} ->> '$')"
    if column.kind == "string":
        return f"(case when trim({text}) <> '' then {text} end)"
    return f"nullif(trim({text}), '')"


def typed_value_sql(column: Column, v: str) -> str:
    """SQL that turns text `v` into the column's DuckDB type, NULL when the text is not valid for the kind."""
    kind = column.kind
    if kind == "string":
        return v
    if kind == "integer":
        return f"(case when regexp_full_match({v}, '[+-]?[0-9]+(\\.0+)?') then try_cast({v} as bigint) end)"
    if kind == "float":
        return f"(case when isfinite(try_cast({v} as double)) then try_cast({v} as double) end)"
    if kind == "boolean":
        true_words = ", ".join(sql_string(w) for w in TRUE_WORDS)
        false_words = ", ".join(sql_string(w) for w in FALSE_WORDS)
        return f"(case when lower({v}) in ({true_words}) then true when lower({v}) in ({false_words}) then false end)"
    if kind == "timestamp":
        # The session time zone is UTC (set by load_entity), so text without an offset is read as UTC
        # and the cast to TIMESTAMP gives naive UTC. The date prefix keeps out 'infinity' and 'epoch'.
        return (
            f"(case when regexp_matches({v}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"then try_cast(try_cast({v} as timestamptz) as timestamp) end)"
        )
    if kind == "epoch":
        seconds = f"try_cast({v} as double)"
        return (
            f"(case when {seconds} between {MIN_EPOCH_SECONDS} and {MAX_EPOCH_SECONDS} "
            f"then make_timestamp(cast(round({seconds} * 1000000) as bigint)) end)"
        )
    if kind == "date":
        return f"(case when regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') then try_cast({v} as date) end)"
    if kind == "json":
        return f"(case when try(json_type({v})) in ('OBJECT', 'ARRAY') then {v} end)"
    raise ValueError(f"unknown column kind {kind!r}")


def _quoted_value_sql(v: str) -> str:
    limit = MAX_QUOTED_VALUE_CHARS
    return f"('''' || left({v}, {limit}) || case when length({v}) > {limit} then '...''' else '''' end)"


def _number_literal(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def reason_sql(field: Field, v: str, typed: str) -> str:
    """SQL for why the field's value is rejected: missing, untypable, not allowed or out of range; NULL when valid."""
    column = field.column
    label = field.label
    quoted = _quoted_value_sql(v)
    branches = []
    if column.required:
        branches.append(f"when {v} is null then {sql_string(label + ': missing required value')}")
    else:
        branches.append(f"when {v} is null then null")
    branches.append(f"when {typed} is null then {sql_string(label + ': ' + INVALID_KIND_MESSAGES.get(column.kind, 'invalid value') + ' ')} || {quoted}")
    if column.allowed:
        allowed = ", ".join(sql_string(a) for a in column.allowed)
        message = f" is not one of {', '.join(column.allowed)}"
        branches.append(f"when {typed} not in ({allowed}) then {sql_string(label + ': value ')} || {quoted} || {sql_string(message)}")
    if column.minimum is not None:
        minimum = _number_literal(column.minimum)
        branches.append(f"when {typed} < {minimum} then {sql_string(label + ': value ')} || {quoted} || ' is below the minimum {minimum}'")
    if column.maximum is not None:
        maximum = _number_literal(column.maximum)
        branches.append(f"when {typed} > {maximum} then {sql_string(label + ': value ')} || {quoted} || ' is above the maximum {maximum}'")
    return "case " + " ".join(branches) + " end"


def typed_select_sql(
    fields: Sequence[Field],
    source: str,
    passthrough: Sequence[str],
    tree: dict[str, set[str]],
    extra_reasons: Sequence[str] = (),
) -> str:
    """Return a SELECT that types and validates every record of `source`, a relation of JSON documents.

    `source` must have `__doc` (JSON text, NULL for malformed records) and `__malformed`. Its
    `passthrough` columns are carried through unchanged. `extra_reasons` are further SQL expressions
    over `__doc` that give a reject reason or NULL (a child array that is not an array, for example).
    The output is described in typing_select_sql, with `__doc` kept as well.
    """
    pointers = []
    for field in fields:
        pointers.append(json_pointer(field.path))
        if field.fallback_path:
            pointers.append(json_pointer(field.fallback_path))
    texts = []
    presents = []
    position = 1
    for field in fields:
        primary = f"__values[{position}]"
        text = value_text_sql(field.column, primary)
        present = f"{primary} is not null"
        position += 1
        if field.fallback_path:
            fallback = f"__values[{position}]"
            text = f"coalesce({text}, {value_text_sql(field.column, fallback)})"
            present = f"({present} or {fallback} is not null)"
            position += 1
        texts.append(text)
        presents.append(present)

    # The objects that can hold unknown fields are read in the same pass: the record itself is __doc,
    # every other object comes after the fields' values in __values.
    prefixes = sorted(tree)
    objects = {}
    for prefix in prefixes:
        if prefix:
            pointers.append(json_pointer(prefix))
            objects[prefix] = f"__values[{len(pointers)}]"
        else:
            objects[prefix] = "__doc"
    pointer_list = "[" + ", ".join(sql_string(p) for p in pointers) + "]"
    maps = {prefix: f"__object_map_{i}" for i, prefix in enumerate(prefixes)}

    # json_extract with a list of pointers parses each document once for all fields and objects. Each
    # object then takes one more parse, into a MAP that gives its unknown fields.
    extracted = (
        f"(select *, case when __doc is not null then json_extract(__doc, {pointer_list}) end as __values "
        f"from {source})"
    )
    object_maps = ", ".join(f"{object_map_sql(objects[p])} as {maps[p]}" for p in prefixes)
    with_maps = f"(select *, {object_maps} from {extracted})"
    return typing_select_sql(
        fields,
        with_maps,
        [*passthrough, "__doc"],
        texts,
        presents,
        unknown=f"case when __doc is not null then {unknown_fields_sql(tree, objects, maps)} else [] end",
        # A record whose unknown fields repeat a name is rejected, so it needs no _extra.
        extra=f"case when __doc is not null and {repeated_unknown_name_sql()} is null then {extra_sql()} end",
        parsed="__doc is not null",
        extra_reasons=[*extra_reasons, repeated_unknown_reason_sql()],
    )


def typing_select_sql(
    fields: Sequence[Field],
    source: str,
    passthrough: Sequence[str],
    texts: Sequence[str],
    presents: Sequence[str],
    *,
    unknown: str,
    extra: str,
    parsed: str,
    extra_reasons: Sequence[str] = (),
    raw: str | None = None,
    typed: Mapping[int, str] | None = None,
) -> str:
    """Return a SELECT that types and validates every record of `source` from per-field SQL expressions.

    For field i, `texts[i]` is its value as text (NULL when absent or blank) and `presents[i]` whether
    the record has the field at all. `unknown` is the list of {name, ...} structs of the record's
    unknown fields, `extra` the `_extra` JSON text (it may read `__unknown_fields`), `parsed` whether
    the record parsed, and `source` has `__malformed`. With `raw`, the output gets `__raw` from that
    expression for rejected records only (NULL for loaded ones, which never need it).
    The output has the passthrough columns, `__parsed`, one column per field (typed, under the raw
    column name), `__present_<i>`, `__unknown_fields`, `__extra`, `__reason` (NULL when valid) and
    `__raw` when asked for. `typed` maps a field's index to SQL for its typed value over `source`, for a
    column that already has the field's type (a Parquet timestamp); that field's text then only feeds
    the reject reason.
    """
    typed = typed or {}
    text_columns = [f"{text} as __text_{i}" for i, text in enumerate(texts)]
    present_columns = [f"{present} as __present_{i}" for i, present in enumerate(presents)]
    typed_columns = []
    reasons = []
    for i, field in enumerate(fields):
        name = quote_identifier(field.column.name)
        typed_columns.append(f"{typed.get(i) or typed_value_sql(field.column, f'__text_{i}')} as {name}")
        reasons.append(reason_sql(field, f"__text_{i}", name))
    reasons.extend(extra_reasons)
    present_names = ", ".join(f"__present_{i}" for i in range(len(fields)))
    carried = "".join(f"{column}, " for column in passthrough)
    reason = f"coalesce(__malformed, nullif(concat_ws('; ', {', '.join(reasons)}), ''))"
    raw_column = f"case when __reason is not null then {raw} end as __raw," if raw else ""

    return f"""
        with texts as (
            select
                *,
                {", ".join(text_columns)},
                {", ".join(present_columns)},
                {unknown} as __unknown_fields,
                {parsed} as __parsed,
            from {source}
        ),
        typed as (
            select
                *,
                {", ".join(typed_columns)},
            from texts
        ),
        checked as (
            select *, {reason} as __reason, from typed
        )
        select
            {carried}__parsed, {present_names},
            {", ".join(quote_identifier(f.column.name) for f in fields)},
            __unknown_fields,
            {extra} as __extra,
            __reason,
            {raw_column}
        from checked
    """
