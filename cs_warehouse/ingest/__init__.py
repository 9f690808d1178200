"""Raw ingestion: landing files to typed, validated, deduplicated raw tables (plain Python, no Dagster)."""

from cs_warehouse.ingest.connection import connect_warehouse
from cs_warehouse.ingest.files import DayWindow
from cs_warehouse.ingest.load import load_entity
from cs_warehouse.ingest.report import LOADED, NO_FILES, UNCHANGED, ChildReport, FileReport, LoadReport

__all__ = [
    "LOADED",
    "NO_FILES",
    "UNCHANGED",
    "ChildReport",
    "DayWindow",
    "FileReport",
    "LoadReport",
    "connect_warehouse",
    "load_entity",
]
