"""Counts of one entity load: per file, and per raw table after the load."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Load outcomes: files were loaded, nothing changed since the last load, or the entity has no files.
LOADED = "loaded"
UNCHANGED = "unchanged"
NO_FILES = "no files"


@dataclass
class FileReport:
    """Counts of one landing file in one load; rows_read = rows_loaded + rows_rejected + duplicates_dropped."""

    path: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    duplicates_dropped: int = 0
    # Events only: rows of earlier loads that a copy in this file replaced because it was received earlier.
    rows_superseded: int = 0
    unknown_fields: dict[str, int] = field(default_factory=dict)

    @property
    def is_balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_rejected + self.duplicates_dropped


@dataclass
class ChildReport:
    """Counts of a child table's rows unnested from the records loaded in this load."""

    table: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    duplicates_dropped: int = 0
    unknown_fields: dict[str, int] = field(default_factory=dict)


@dataclass
class LoadReport:
    """Outcome of one load_entity call on an entity's raw tables: status, per-file counts and table sizes."""

    table: str
    status: str
    files: list[FileReport] = field(default_factory=list)
    children: list[ChildReport] = field(default_factory=list)
    # Rows in each raw table and its raw_rejects table after the load, parent and child tables.
    table_rows: dict[str, int] = field(default_factory=dict)
    rejected_rows: dict[str, int] = field(default_factory=dict)
    # Files loaded in earlier loads and left as they are.
    unchanged_files: int = 0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def duplicates_dropped(self) -> int:
        return sum(f.duplicates_dropped for f in self.files)

    @property
    def unknown_fields(self) -> dict[str, int]:
        """Unknown field names and the number of records that had each, over all files and child tables."""
        totals: Counter[str] = Counter()
        for file_report in self.files:
            totals.update(file_report.unknown_fields)
        for child in self.children:
            totals.update({f"{child.table}: {name}": count for name, count in child.unknown_fields.items()})
        return dict(sorted(totals.items()))
