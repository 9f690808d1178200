"""Dagster resources shared by every domain: the DuckDB warehouse file and the landing folder.

Both paths are resolved when an asset uses them, not when the definitions are loaded, so a path set
in CSW_WAREHOUSE or CSW_LANDING_DIR after import (as `csw run` does) still applies.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from cs_warehouse.config import DUCKDB_MEMORY_LIMIT_ENV, LANDING_DIR_ENV, WAREHOUSE_ENV, load_settings
from cs_warehouse.ingest.connection import connect_warehouse
from cs_warehouse.locking import lock_for_this_process

WAREHOUSE_RESOURCE_KEY = "warehouse"
LANDING_RESOURCE_KEY = "landing"
# Concurrency pool of every step that opens the warehouse file. dagster_home/dagster.yaml limits it to
# one run at a time, so runs that write the warehouse queue instead of interleaving their steps.
WAREHOUSE_POOL = "cs_warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Open a connection only for the duration of one asset: DuckDB takes one writer."""

    path: str | None = Field(
        default=None,
        description=f"DuckDB file; empty means ${WAREHOUSE_ENV}, else the default of cs_warehouse.config.",
    )
    memory_limit: str | None = Field(
        default=None,
        description=(
            f"DuckDB memory_limit, such as 8GB; empty means ${DUCKDB_MEMORY_LIMIT_ENV}, else the default of "
            "cs_warehouse.config. Beyond it DuckDB spills to <warehouse>.tmp beside the file."
        ),
    )

    @property
    def database(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else load_settings().warehouse

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse with its memory limit (creating its folder on a first write) and close it on exit.

        The run takes the warehouse's lock first and keeps it to its end (cs_warehouse.locking).
        """
        database = self.database
        if not read_only:
            database.parent.mkdir(parents=True, exist_ok=True)
        lock_for_this_process(database)
        con = connect_warehouse(database, read_only=read_only, memory_limit=self.memory_limit)
        try:
            yield con
        finally:
            con.close()


class LandingResource(dg.ConfigurableResource):
    """The landing folder the raw assets read."""

    path: str | None = Field(
        default=None,
        description=f"Landing folder; empty means ${LANDING_DIR_ENV}, else the default of cs_warehouse.config.",
    )

    @property
    def folder(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else load_settings().landing_dir


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {WAREHOUSE_RESOURCE_KEY: WarehouseResource(), LANDING_RESOURCE_KEY: LandingResource()}
