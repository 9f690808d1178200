"""Open the warehouse with a memory limit, so large loads spill to disk instead of growing without bound."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cs_warehouse.config import load_settings
from cs_warehouse.errors import CswError

# Suffix of the folder DuckDB spills to, beside the warehouse file (DuckDB's own default for a file database).
TEMP_DIRECTORY_SUFFIX = ".tmp"


def configure_connection(con: duckdb.DuckDBPyConnection, database: Path, memory_limit: str | None = None) -> None:
    """Set memory_limit (default: CSW_DUCKDB_MEMORY_LIMIT) and a temp_directory beside `database`."""
    limit = memory_limit or load_settings().duckdb_memory_limit
    try:
        con.execute(f"set memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as error:
        raise CswError(
            f"invalid DuckDB memory limit {limit!r} (from CSW_DUCKDB_MEMORY_LIMIT or the caller): "
            f"{str(error).splitlines()[0]}; use a size such as 8GB or 512MB"
        ) from None
    temp_directory = str(database) + TEMP_DIRECTORY_SUFFIX
    con.execute(f"set temp_directory = '{temp_directory.replace(chr(39), chr(39) * 2)}'")


def connect_warehouse(
    database: Path | str, *, read_only: bool = False, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file with the memory limit and spill folder of configure_connection."""
    path = Path(database)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        configure_connection(con, path, memory_limit)
    except BaseException:
        con.close()
        raise
    return con
