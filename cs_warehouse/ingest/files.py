"""Find an entity's landing files and fingerprint them, optionally only those of a window of days."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cs_warehouse.contract import Entity

HASH_CHUNK_BYTES = 1 << 20
# A day in a landing path: events/2025-03-20.jsonl.gz, events/date=2025-03-20/part-0.parquet.
PATH_DATE_PATTERN = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def path_date(relative_path: str) -> date | None:
    """Return the last valid YYYY-MM-DD day in a landing path, or None when it names no day."""
    for match in reversed(list(PATH_DATE_PATTERN.finditer(relative_path))):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class DayWindow:
    """The days [start, end) a partitioned load covers; None leaves that side open.

    A file belongs to the day its path names. A file whose path names no day (a monthly export such as
    events/2025-03.jsonl.gz) belongs to every window, so the first load of any window picks it up.
    """

    start: date | None = None
    end: date | None = None

    def includes(self, relative_path: str) -> bool:
        day = path_date(relative_path)
        if day is None:
            return True
        return (self.start is None or day >= self.start) and (self.end is None or day < self.end)

    @property
    def is_open(self) -> bool:
        return self.start is None and self.end is None

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the first day"
        end = self.end.isoformat() if self.end else "the last day"
        return f"files dated from {start} up to (not including) {end}, and undated files"


@dataclass(frozen=True)
class LandingFile:
    """One landing file: its absolute path, its path relative to the landing folder, size and SHA-256."""

    path: Path
    relative_path: str
    size: int
    content_hash: str

    @property
    def is_gzipped(self) -> bool:
        return self.path.name.endswith(".gz")

    @property
    def format_suffix(self) -> str:
        """Return the file's format extension without .gz: csv, jsonl or parquet."""
        name = self.path.name.removesuffix(".gz")
        return name.rsplit(".", 1)[-1].lower()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def matching_paths(entity: Entity, landing_dir: Path) -> set[Path]:
    """Return the files under `landing_dir` that match the entity's globs or their .gz variants, hidden ones left out."""
    matches: set[Path] = set()
    for pattern in entity.patterns:
        for variant in (pattern, f"{pattern}.gz"):
            matches.update(p for p in landing_dir.glob(variant) if p.is_file() and not p.name.startswith("."))
    return matches


def find_landing_files(entity: Entity, landing_dir: Path, window: DayWindow | None = None) -> list[LandingFile]:
    """Return the entity's files under `landing_dir`, sorted by relative path.

    Each contract glob also matches its gzipped variant (`pattern + ".gz"`). Hidden files (a name
    starting with a dot, as editors and partial downloads leave behind) are skipped, and so are files
    outside `window`, before they are read to be fingerprinted.
    """
    files = []
    for path in matching_paths(entity, landing_dir):
        relative_path = path.relative_to(landing_dir).as_posix()
        if window is not None and not window.includes(relative_path):
            continue
        files.append(
            LandingFile(
                path=path,
                relative_path=relative_path,
                size=path.stat().st_size,
                content_hash=_hash_file(path),
            )
        )
    return sorted(files, key=lambda f: f.relative_path)
