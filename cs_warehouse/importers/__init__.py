"""Importers that convert public data sets into landing files that follow cs_warehouse.contract.

docs/real_data.md lists each data set's download address, licence and mapping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from cs_warehouse.errors import CswError
from cs_warehouse.importers._landing import prepare_out_dir

__all__ = ["import_data_set"]

log = logging.getLogger(__name__)


def _importers() -> dict[str, Callable[[Path, Path], None]]:
    from cs_warehouse.importers.helpdesk import import_helpdesk
    from cs_warehouse.importers.online_retail import import_online_retail
    from cs_warehouse.importers.oulad import import_oulad
    from cs_warehouse.importers.telco import import_telco

    return {
        "oulad": import_oulad,
        "telco": import_telco,
        "online-retail": import_online_retail,
        "helpdesk": import_helpdesk,
    }


def import_data_set(name: str, source: Path, out_dir: Path) -> None:
    """Convert the data set `name` read from `source` into landing files under `out_dir`.

    `out_dir` must be empty or missing, so that one landing folder never mixes two data sets.
    """
    importers = _importers()
    if name not in importers:
        raise CswError(f"unknown data set {name!r}; expected one of {', '.join(sorted(importers))}")
    source = Path(source)
    out_dir = Path(out_dir)
    prepare_out_dir(out_dir)
    started = time.perf_counter()
    log.info("importing %s from %s into %s", name, source, out_dir)
    importers[name](source, out_dir)
    log.info("imported %s in %.1f s", name, time.perf_counter() - started)
