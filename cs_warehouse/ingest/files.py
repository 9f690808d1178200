"""Find an entity's landing files and fingerprint them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cs_warehouse.contract import Entity

HASH_CHUNK_BYTES = 1 << 20


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


def find_landing_files(entity: Entity, landing_dir: Path) -> list[LandingFile]:
    """Return the entity's files under `landing_dir`, sorted by relative path.

    Each contract glob also matches its gzipped variant (`pattern + ".gz"`). Hidden files (a name
    starting with a dot, as editors and partial downloads leave behind) are skipped.
    """
    matches: set[Path] = set()
    for pattern in entity.patterns:
        for variant in (pattern, f"{pattern}.gz"):
            matches.update(p for p in landing_dir.glob(variant) if p.is_file() and not p.name.startswith("."))

    files = []
    for path in matches:
        files.append(
            LandingFile(
                path=path,
                relative_path=path.relative_to(landing_dir).as_posix(),
                size=path.stat().st_size,
                content_hash=_hash_file(path),
            )
        )
    return sorted(files, key=lambda f: f.relative_path)
