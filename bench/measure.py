"""Run a command as a child process and measure its wall time and the peak memory of its process tree.

Memory is the sum of VmRSS over the child and all its descendants, read from /proc every
SAMPLE_INTERVAL_SECONDS (Linux only; psutil is not a dependency). The maximum of that sum over the
samples is the peak. Two limits apply: a memory cap and a timeout. When the tree crosses either,
the watchdog kills every process of the tree with SIGKILL and records why.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOGGER = logging.getLogger(__name__)

PROC = Path("/proc")
SAMPLE_INTERVAL_SECONDS = 0.2
KIB = 1024
# Sizes as DuckDB reads them: GB and MB are powers of 1000, GiB and MiB powers of 1024.
SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}
# Characters of a failed command's last stderr line kept in the result's note.
ERROR_NOTE_MAX_CHARS = 300


@dataclass(frozen=True)
class Measurement:
    """Outcome of one measured command."""

    seconds: float
    peak_bytes: int
    exit_code: int
    killed: bool
    note: str


def parse_size(text: str) -> int:
    """Parse a size such as 20GB, 512MB or 1.5GiB into bytes; raise ValueError on anything else."""
    cleaned = text.strip().upper().replace(" ", "")
    for unit in sorted(SIZE_UNITS, key=len, reverse=True):
        if cleaned.endswith(unit):
            number = cleaned[: -len(unit)]
            try:
                value = float(number)
            except ValueError:
                break
            if value <= 0:
                break
            return int(value * SIZE_UNITS[unit])
    raise ValueError(f"invalid size {text!r}: expected a positive number and a unit, such as 20GB or 512MB")


def format_bytes(size: int) -> str:
    """Format bytes in GB (powers of 1000) with one decimal, or MB below 1 GB."""
    if size >= 1000**3:
        return f"{size / 1000**3:.1f} GB"
    return f"{size / 1000**2:.0f} MB"


# ---------------------------------------------------------------------------------------------
# /proc readers


def _parent_pids() -> dict[int, int]:
    """Map every visible process id to its parent's id, read from /proc/<pid>/stat."""
    parents: dict[int, int] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # the process ended between the listing and the read
        # The command name in brackets may contain spaces and brackets, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root_pid: int) -> list[int]:
    """Return root_pid and the ids of all its descendants that are alive now (root first)."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent in _parent_pids().items():
        children[parent].append(pid)
    tree = [root_pid]
    index = 0
    while index < len(tree):
        tree.extend(children.get(tree[index], ()))
        index += 1
    return tree


def rss_bytes(pid: int) -> int:
    """Return the VmRSS of one process in bytes; 0 when it has ended or is a zombie (no VmRSS line)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    return 0


def tree_rss_bytes(root_pid: int) -> int:
    """Return the sum of VmRSS over a process and its descendants, in bytes."""
    return sum(rss_bytes(pid) for pid in process_tree(root_pid))


def kill_tree(root_pid: int) -> None:
    """Send SIGKILL to a process and every descendant alive now, children first."""
    for pid in reversed(process_tree(root_pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------------------------------------
# Measured run


def _last_line(path: Path) -> str:
    if not path.exists():
        return ""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:ERROR_NOTE_MAX_CHARS] if lines else ""


def run_measured(
    command: Sequence[str],
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    memory_cap_bytes: int | None = None,
    memory_cap_text: str | None = None,
    timeout_seconds: float | None = None,
) -> Measurement:
    """Run a command to its end (or until the watchdog kills it) and return its measurement.

    stdout and stderr go to log_dir/stdout.log and log_dir/stderr.log. The child starts in its own
    session, so a Ctrl-C of the caller does not reach it. On KeyboardInterrupt the tree is killed
    before the interrupt propagates. memory_cap_text is the cap as the user wrote it, for the note.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = log_dir / "stdout.log"
    stderr_path = log_dir / "stderr.log"
    LOGGER.info("running %s", " ".join(command))

    peak = 0
    kill_reason = ""
    started = time.monotonic()
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            list(command), stdout=stdout, stderr=stderr, env=dict(env) if env is not None else None,
            cwd=cwd, start_new_session=True,
        )
        try:
            while process.poll() is None:
                rss = tree_rss_bytes(process.pid)
                peak = max(peak, rss)
                elapsed = time.monotonic() - started
                if memory_cap_bytes is not None and rss > memory_cap_bytes:
                    cap = memory_cap_text or format_bytes(memory_cap_bytes)
                    kill_reason = f"killed at {cap} after {elapsed:.0f} s"
                elif timeout_seconds is not None and elapsed > timeout_seconds:
                    kill_reason = f"killed after the {timeout_seconds:.0f} s timeout"
                if kill_reason:
                    LOGGER.warning("%s: %s", command[0], kill_reason)
                    kill_tree(process.pid)
                    process.wait()
                    break
                time.sleep(SAMPLE_INTERVAL_SECONDS)
        except KeyboardInterrupt:
            kill_tree(process.pid)
            process.wait()
            raise
    seconds = time.monotonic() - started

    exit_code = process.returncode
    if kill_reason:
        note = kill_reason
    elif exit_code != 0:
        note = _last_line(stderr_path) or f"exited with code {exit_code}"
    else:
        note = ""
    return Measurement(seconds=seconds, peak_bytes=peak, exit_code=exit_code, killed=bool(kill_reason), note=note)
