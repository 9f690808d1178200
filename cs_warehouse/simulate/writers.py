"""Byte-deterministic writers for landing files: CSV, JSON Lines, gzip and Parquet.

Gzip members are written with mtime 0 and no file name, JSON with fixed separators and key order as
built, so the same records always give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GZIP_LEVEL = 6
PARQUET_COMPRESSION = "zstd"


def to_json(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


class JsonLinesWriter:
    """Append records to a JSON Lines file, one object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, record: dict) -> None:
        self._file.write(to_json(record))
        self._file.write("\n")
        self.rows += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class CsvWriter:
    """Append rows to a CSV file with a fixed header; missing values are written as empty fields."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.rows = 0
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=columns, lineterminator="\n", extrasaction="raise")
        self._writer.writeheader()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def write_gzip_text(path: Path, parts: Iterable[pa.Array]) -> None:
    """Gzip the concatenated strings of each part (lines ending in a newline) with no timestamp or file name.

    The bytes come straight from the Arrow string buffers, so no Python string per line is built.
    """
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                               compresslevel=GZIP_LEVEL) as compressed:
        for part in parts:
            if len(part) == 0:
                continue
            _, offsets_buffer, data_buffer = part.buffers()
            offset_type = np.int64 if pa.types.is_large_string(part.type) else np.int32
            offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[part.offset:part.offset + len(part) + 1]
            compressed.write(memoryview(data_buffer)[int(offsets[0]):int(offsets[-1])])


def write_parquet(path: Path, parts: Iterable[pa.Table], empty: pa.Schema) -> None:
    """Write tables of one schema as consecutive row groups of one Parquet file."""
    with pq.ParquetWriter(path, empty, compression=PARQUET_COMPRESSION) as writer:
        for part in parts:
            writer.write_table(part)
