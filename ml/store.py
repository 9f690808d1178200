"""The model store: one folder per model version, and a pointer file naming the promoted version.

Layout under the store root (CSW_MODEL_STORE, default ./model_store):

    <version>/model.joblib        fitted calibrated pipeline
    <version>/drivers.joblib      fitted logistic pipeline and reference row used for score drivers
    <version>/model_card.json     training window, data fingerprint, code and library versions, metrics
    <version>/backtest.png        ROC and calibration curves of the backtest (written by the Dagster asset)
    promoted.json                 {"version": ...}: the version that scores; absent until one is promoted

joblib files run code when loaded, so load only a store this project wrote.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from cs_warehouse.errors import CswError

LOGGER = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
DRIVERS_FILE = "drivers.joblib"
CARD_FILE = "model_card.json"
PROMOTED_FILE = "promoted.json"


@dataclass(frozen=True)
class StoredModel:
    """A model version loaded from the store."""

    version: str
    model: Any
    drivers: Any
    card: dict[str, Any]


class ModelStore:
    """Read and write model versions under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save_version(self, version: str, model: Any, drivers: Any, card: dict[str, Any]) -> Path:
        """Write a new version folder; raise if the version exists, because versions are immutable."""
        folder = self.root / version
        if folder.exists():
            raise CswError(f"model version {version!r} already exists in {self.root}: versions are never overwritten")
        folder.mkdir(parents=True)
        joblib.dump(model, folder / MODEL_FILE)
        joblib.dump(drivers, folder / DRIVERS_FILE)
        _write_json_atomically(folder / CARD_FILE, card)
        LOGGER.info("wrote model version %s to %s", version, folder)
        return folder

    def save_artifact(self, version: str, name: str, content: bytes) -> Path:
        """Write a file such as a plot into an existing version folder and return its path."""
        self.read_card(version)
        path = self.root / version / name
        path.write_bytes(content)
        return path

    def versions(self) -> list[str]:
        """Return the stored versions, oldest first (version names sort by creation time)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CARD_FILE).is_file())

    def read_card(self, version: str) -> dict[str, Any]:
        path = self.root / version / CARD_FILE
        if not path.is_file():
            raise CswError(f"model version {version!r} not found: {path} is missing")
        return json.loads(path.read_text())

    def promoted_version(self) -> str | None:
        """Return the version that scores, or None when no version was ever promoted."""
        path = self.root / PROMOTED_FILE
        if not path.is_file():
            return None
        return json.loads(path.read_text())["version"]

    def promote(self, version: str) -> None:
        """Make `version` the one that scores."""
        self.read_card(version)
        _write_json_atomically(self.root / PROMOTED_FILE, {"version": version})
        LOGGER.info("promoted model version %s", version)

    def load(self, version: str) -> StoredModel:
        card = self.read_card(version)
        folder = self.root / version
        return StoredModel(
            version=version,
            model=joblib.load(folder / MODEL_FILE),
            drivers=joblib.load(folder / DRIVERS_FILE),
            card=card,
        )

    def load_promoted(self) -> StoredModel | None:
        version = self.promoted_version()
        return self.load(version) if version else None


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)
        temporary = Path(handle.name)
    os.replace(temporary, path)
