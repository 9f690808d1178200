"""Read one landing file into the temporary table `__stage`, one row per landing record.

Every format ends in the same shape, so typing and validation are written once, in SQL:

    __line       1-based line of the record (CSV: the header is line 1; Parquet: row index + 1)
    __raw        the record's text as it appears in the file (Parquet: the row as JSON)
    __malformed  why the record could not be parsed, NULL when it parsed
    __doc        the record as a JSON object (CSV: header -> text value), NULL when malformed

JSON Lines and Parquet are read by DuckDB, so event files of tens of millions of rows never pass
through Python row by row. CSV files (CRM and catalog exports, small) are parsed with Python's csv
module, which gives exact line numbers for quoted fields that span lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from cs_warehouse.contract import Entity
from cs_warehouse.errors import LandingError
from cs_warehouse.ingest.files import LandingFile
from cs_warehouse.ingest.parquet_sql import parquet_json_value_sql
from cs_warehouse.ingest.typing_sql import quote_identifier

STAGE_TABLE = "__stage"

# Unit separator: JSON text never contains it unescaped, so reading a JSON Lines file as one-column
# CSV with it as delimiter returns each line whole.
LINE_DELIMITER = "\\x1f"


def stage_file(con: duckdb.DuckDBPyConnection, entity: Entity, landing_file: LandingFile) -> None:
    """Replace `__stage` with the records of one landing file."""
    con.execute(f"drop table if exists {STAGE_TABLE}")
    suffix = landing_file.format_suffix
    if suffix == "csv":
        _stage_csv(con, entity, landing_file)
    elif suffix == "jsonl":
        _stage_json_lines(con, landing_file)
    elif suffix == "parquet":
        _stage_parquet(con, landing_file)
    else:
        raise LandingError(
            f"{landing_file.relative_path}: unsupported file type {suffix!r} for raw.{entity.table}; "
            "expected .csv, .jsonl or .parquet (optionally .gz for CSV and JSON Lines)"
        )


# ---------------------------------------------------------------------------------------------
# CSV


def _open_text(landing_file: LandingFile) -> io.TextIOBase:
    # utf-8-sig drops the byte order mark that spreadsheet exports often start with.
    if landing_file.is_gzipped:
        return gzip.open(landing_file.path, "rt", encoding="utf-8-sig", newline="")
    return landing_file.path.open("r", encoding="utf-8-sig", newline="")


class _LineRecorder:
    """Iterate a text file's lines for csv.reader and keep the lines each record consumed."""

    def __init__(self, handle: io.TextIOBase) -> None:
        self._handle = handle
        self.lines_read = 0
        self.buffer: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._handle:
            self.lines_read += 1
            self.buffer.append(line)
            yield line

    def take(self) -> str:
        text = "".join(self.buffer).rstrip("\r\n")
        self.buffer.clear()
        return text


def _check_header(entity: Entity, landing_file: LandingFile, header: list[str]) -> None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise LandingError(
            f"{landing_file.relative_path}: the header names {', '.join(duplicates)} more than once; "
            "give every column a unique name"
        )
    missing = [c.source_path for c in entity.required_columns if c.source_path not in header]
    if missing:
        raise LandingError(
            f"{landing_file.relative_path}: required column {', '.join(repr(m) for m in missing)} missing from "
            f"the header (found: {', '.join(header)}). Add the column to the export; raw.{entity.table} "
            "was left unchanged."
        )


def _stage_csv(con: duckdb.DuckDBPyConnection, entity: Entity, landing_file: LandingFile) -> None:
    lines: list[int] = []
    raws: list[str] = []
    malformed: list[str | None] = []
    docs: list[str | None] = []

    try:
        with _open_text(landing_file) as handle:
            recorder = _LineRecorder(handle)
            reader = csv.reader(recorder)
            try:
                header = [name.strip() for name in next(reader)]
            except StopIteration:
                raise LandingError(
                    f"{landing_file.relative_path}: the file is empty but a CSV export needs a header row; "
                    "write the header even when there are no rows"
                ) from None
            recorder.take()
            _check_header(entity, landing_file, header)

            while True:
                first_line = recorder.lines_read + 1
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    record, problem = None, f"unparseable CSV: {error}"
                else:
                    problem = None
                raw = recorder.take()
                if record is not None and not any(field.strip() for field in record):
                    continue  # blank line
                lines.append(first_line)
                raws.append(raw)
                if problem is None and len(record) != len(header):
                    problem = f"expected {len(header)} fields as in the header, found {len(record)}"
                malformed.append(problem)
                docs.append(json.dumps(dict(zip(header, record))) if problem is None else None)
    except UnicodeDecodeError as error:
        raise LandingError(
            f"{landing_file.relative_path}: not valid UTF-8 ({error}); re-export the file as UTF-8"
        ) from None

    stage = pa.table(
        {
            "__line": pa.array(lines, pa.int64()),
            "__raw": pa.array(raws, pa.string()),
            "__malformed": pa.array(malformed, pa.string()),
            "__doc": pa.array(docs, pa.string()),
        }
    )
    con.register("__csv_rows", stage)
    try:
        con.execute(f"create temp table {STAGE_TABLE} as select * from __csv_rows")
    finally:
        con.unregister("__csv_rows")


# ---------------------------------------------------------------------------------------------
# JSON Lines and Parquet


def raise_unreadable(landing_file: LandingFile, kind: str, error: duckdb.Error) -> None:
    first_line = str(error).strip().splitlines()[0]
    expected = "a complete Parquet file" if kind == "Parquet" else "UTF-8 text, gzip when the name ends in .gz"
    raise LandingError(
        f"{landing_file.relative_path}: could not be read as {kind}: {first_line}. "
        f"Fix or re-export the file ({expected})."
    ) from None


def _stage_json_lines(con: duckdb.DuckDBPyConnection, landing_file: LandingFile) -> None:
    compression = "gzip" if landing_file.is_gzipped else "none"
    # row_number() over () numbers the lines in file order because DuckDB preserves insertion order
    # (the default setting preserve_insertion_order=true); blank lines are numbered, then dropped.
    # NOTE: strict_mode=false cuts a line at a stray unit-separator byte. Such a line is never valid
    # JSON in the first place, but its stored raw text is then shortened.
    sql = f"""
        create temp table {STAGE_TABLE} as
        with numbered as (
            select row_number() over () as __line, line as __raw
            from read_csv(
                ?,
                columns = {{'line': 'VARCHAR'}},
                header = false,
                delim = E'{LINE_DELIMITER}',
                quote = '',
                escape = '',
                auto_detect = false,
                strict_mode = false,
                compression = '{compression}'
            )
        )
        select
            __line,
            __raw,
            case
                when __type is null then 'malformed line: invalid JSON'
                when __type <> 'OBJECT' then 'malformed line: a JSON ' || lower(__type) || ' where a JSON object was expected'
            end as __malformed,
            case when __type = 'OBJECT' then __raw end as __doc,
        from (select *, try(json_type(__raw)) as __type from numbered)
        where __raw is not null and trim(__raw, E' \\t\\r') <> ''
    """
    try:
        con.execute(sql, [str(landing_file.path)])
    except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException) as error:
        raise_unreadable(landing_file, "JSON Lines", error)


def _stage_parquet(con: duckdb.DuckDBPyConnection, landing_file: LandingFile) -> None:
    path = str(landing_file.path)
    try:
        schema = con.execute("describe select * from read_parquet(?)", [path]).fetchall()
        fields = ", ".join(
            f"{quote_identifier(name)} := {parquet_json_value_sql(name, duckdb_type, quote_identifier(name))}"
            for name, duckdb_type, *_ in schema
        )
        con.execute(
            f"""
            create temp table {STAGE_TABLE} as
            with rows_as_json as (
                select file_row_number + 1 as __line, to_json(struct_pack({fields})) as __raw,
                from read_parquet(?, file_row_number = true)
            )
            select __line, __raw::varchar as __raw, null::varchar as __malformed, __raw::varchar as __doc,
            from rows_as_json
            """,
            [path],
        )
    except (duckdb.InvalidInputException, duckdb.IOException) as error:
        raise_unreadable(landing_file, "Parquet", error)

