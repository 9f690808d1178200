"""Paths and settings, each read from an environment variable with a documented default.

Relative defaults resolve against the current working directory, so running `csw` from the
repository root keeps every generated file inside it (and out of git, see .gitignore).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LANDING_DIR_ENV = "CSW_LANDING_DIR"
WAREHOUSE_ENV = "CSW_WAREHOUSE"
MODEL_STORE_ENV = "CSW_MODEL_STORE"
DATA_DOCS_ENV = "CSW_DATA_DOCS"
REPORTING_CURRENCY_ENV = "CSW_REPORTING_CURRENCY"
REPORTING_TIMEZONE_ENV = "CSW_REPORTING_TIMEZONE"
DUCKDB_MEMORY_LIMIT_ENV = "CSW_DUCKDB_MEMORY_LIMIT"
EVENT_PARTITIONS_START_ENV = "CSW_EVENT_PARTITIONS_START"

DEFAULT_LANDING_DIR = "landing"
DEFAULT_WAREHOUSE = "warehouse/cs_warehouse.duckdb"
DEFAULT_MODEL_STORE = "model_store"
DEFAULT_DATA_DOCS = "warehouse/data_docs"
DEFAULT_REPORTING_CURRENCY = "usd"
DEFAULT_REPORTING_TIMEZONE = "UTC"
# DuckDB memory_limit of warehouse connections (DuckDB size text such as 8GB or 512MB). Beyond it,
# sorts, joins, windows and temporary tables spill to disk beside the warehouse file. The default
# leaves room for Python, dbt and the ML step on a 12 GB budget.
DEFAULT_DUCKDB_MEMORY_LIMIT = "6GB"
# First day of the daily event partitions (ISO date, reporting time zone). The first partition also
# takes every earlier event, so data older than this is never lost, only not split by day.
DEFAULT_EVENT_PARTITIONS_START = "2020-01-01"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse: Path
    model_store: Path
    data_docs: Path
    reporting_currency: str
    reporting_timezone: str
    duckdb_memory_limit: str
    event_partitions_start: str


def _path_from_env(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default).expanduser().resolve()


def load_settings() -> Settings:
    """Read the settings from the environment, falling back to the defaults above."""
    return Settings(
        landing_dir=_path_from_env(LANDING_DIR_ENV, DEFAULT_LANDING_DIR),
        warehouse=_path_from_env(WAREHOUSE_ENV, DEFAULT_WAREHOUSE),
        model_store=_path_from_env(MODEL_STORE_ENV, DEFAULT_MODEL_STORE),
        data_docs=_path_from_env(DATA_DOCS_ENV, DEFAULT_DATA_DOCS),
        reporting_currency=(os.environ.get(REPORTING_CURRENCY_ENV) or DEFAULT_REPORTING_CURRENCY).lower(),
        reporting_timezone=os.environ.get(REPORTING_TIMEZONE_ENV) or DEFAULT_REPORTING_TIMEZONE,
        duckdb_memory_limit=os.environ.get(DUCKDB_MEMORY_LIMIT_ENV) or DEFAULT_DUCKDB_MEMORY_LIMIT,
        event_partitions_start=os.environ.get(EVENT_PARTITIONS_START_ENV) or DEFAULT_EVENT_PARTITIONS_START,
    )


@contextmanager
def temporary_environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (dbt reads them in its own process) and restore them after."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
