"""The single-writer lock of a warehouse file: `<warehouse>.lock` beside it, held with fcntl.flock.

DuckDB lets one process write a file at a time, and a pipeline run writes it in many steps (ingestion,
dbt, the churn model), each opening and closing its own connection. Between two steps another run could
slip in and leave the marts half from one run and half from the other. So a run holds the lock from its
first write to its end:

- `csw run` takes it before anything starts and fails at once when another process has it.
- A run Dagster launches (the UI, a schedule, a backfill) takes it in its first step that opens the
  warehouse, waiting up to CSW_LOCK_WAIT_SECONDS for a run that holds it, and keeps it until the run's
  process exits. Within Dagster, the `cs_warehouse` concurrency pool (dagster_home/dagster.yaml)
  already queues such runs one after another; the lock also covers a `csw run` started beside them.

The lock file stays on disk: deleting it would let two runs lock two different files. The operating
system releases a lock when the holding process exits, also after a crash.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cs_warehouse.errors import CswError

LOCK_SUFFIX = ".lock"
LOCK_WAIT_SECONDS_ENV = "CSW_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 3600.0
POLL_SECONDS = 1.0

# Warehouses this process holds the lock of, with the open lock file that holds it.
_HELD: dict[Path, IO[str]] = {}


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + LOCK_SUFFIX)


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown"


def _acquire(warehouse: Path, wait_seconds: float) -> IO[str]:
    """Open and lock the warehouse's lock file, waiting up to wait_seconds; raise CswError when it stays held."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(handle)
                handle.close()
                waited = f" after waiting {wait_seconds:.0f} s" if wait_seconds > 0 else ""
                raise CswError(
                    f"another run is already writing the warehouse {warehouse} (lock file {path}, held by "
                    f"process {holder}){waited}. Wait for it to finish, or pass --warehouse to use another file."
                ) from None
            time.sleep(POLL_SECONDS)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def holds_lock(warehouse: Path) -> bool:
    """Return True when this process holds the warehouse's lock."""
    return warehouse in _HELD


@contextmanager
def warehouse_lock(warehouse: Path, wait_seconds: float = 0.0) -> Iterator[Path]:
    """Hold the warehouse's lock for the duration of the block; re-entrant within one process.

    Raises CswError when another process keeps it for longer than wait_seconds (0: fail at once).
    """
    if warehouse in _HELD:
        yield lock_path(warehouse)
        return
    handle = _acquire(warehouse, wait_seconds)
    _HELD[warehouse] = handle
    try:
        yield lock_path(warehouse)
    finally:
        del _HELD[warehouse]
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def lock_for_this_process(warehouse: Path) -> None:
    """Take the warehouse's lock until this process exits, unless it holds it already.

    For the steps of a run Dagster launched: the first step that writes takes it, the others find it
    held. Waits up to CSW_LOCK_WAIT_SECONDS (default an hour) for another run to finish.
    """
    if warehouse in _HELD:
        return
    wait_seconds = float(os.environ.get(LOCK_WAIT_SECONDS_ENV) or DEFAULT_LOCK_WAIT_SECONDS)
    _HELD[warehouse] = _acquire(warehouse, wait_seconds)
