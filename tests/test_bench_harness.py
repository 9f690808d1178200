"""The benchmark harness: tree memory sampling, the watchdog, the day split and the results page."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from bench.measure import parse_size, run_measured
from bench.run import compute_checks, growth_per_tenfold, load_results, merge_earlier_steps, render_page, slowest_steps
from bench.sizes import SizeSpec, prepare_landing, set_new_day_present

MB = 1000**2
ALLOCATED_BYTES = 300 * MB
# A Python interpreter with no imports beyond the standard library is 10 to 20 MB resident.
INTERPRETER_OVERHEAD_BYTES = 60 * MB

# The child starts a grandchild that allocates the memory, so the sampler must sum over the tree.
HOLD_MEMORY_IN_GRANDCHILD = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; block = b'x' * {ALLOCATED_BYTES}; time.sleep(%s)"])
print(child.pid, flush=True)
child.wait()
"""


def _tree_holding_memory(seconds: float) -> list[str]:
    return [sys.executable, "-c", HOLD_MEMORY_IN_GRANDCHILD % seconds]


def _is_gone(pid: int) -> bool:
    """True when the process no longer exists or is a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


# ---------------------------------------------------------------------------------------------
# Sampler and watchdog


def test_sampler_measures_grandchild_memory(tmp_path: Path) -> None:
    measurement = run_measured(_tree_holding_memory(2.0), log_dir=tmp_path)

    assert measurement.exit_code == 0
    assert measurement.killed is False
    assert measurement.peak_bytes >= ALLOCATED_BYTES
    assert measurement.peak_bytes <= ALLOCATED_BYTES + INTERPRETER_OVERHEAD_BYTES
    assert measurement.seconds >= 2.0


def test_watchdog_kills_tree_over_cap(tmp_path: Path) -> None:
    measurement = run_measured(
        _tree_holding_memory(60.0), log_dir=tmp_path, memory_cap_bytes=parse_size("150MB"), memory_cap_text="150MB",
    )

    assert measurement.killed is True
    assert measurement.exit_code == -9
    assert measurement.note.startswith("killed at 150MB after ")
    assert measurement.note.endswith(" s")
    assert measurement.seconds < 30
    assert measurement.peak_bytes > parse_size("150MB")
    grandchild = int((tmp_path / "stdout.log").read_text().split()[0])
    deadline = time.monotonic() + 5
    while not _is_gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _is_gone(grandchild)


def test_watchdog_kills_on_timeout(tmp_path: Path) -> None:
    measurement = run_measured([sys.executable, "-c", "import time; time.sleep(60)"], log_dir=tmp_path, timeout_seconds=1)

    assert measurement.killed is True
    assert measurement.note == "killed after the 1 s timeout"
    assert measurement.seconds < 10


def test_failed_command_note_is_last_stderr_line(tmp_path: Path) -> None:
    measurement = run_measured([sys.executable, "-c", "raise SystemExit('bad landing folder')"], log_dir=tmp_path)

    assert measurement.exit_code == 1
    assert measurement.killed is False
    assert measurement.note == "bad landing folder"


def test_parse_size_units() -> None:
    assert parse_size("20GB") == 20 * 1000**3
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert parse_size("512 mb") == 512 * MB
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("20 gigs")


# ---------------------------------------------------------------------------------------------
# Day split


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonl_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        return handle.read().splitlines()


def _received_day(line: str) -> str:
    return json.loads(line)["receivedAt"][:10]


def _parquet_rows(path: Path) -> list[tuple]:
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        return connection.execute(f"select * from read_parquet('{path}')").fetchall()


@pytest.fixture(scope="module")
def reference_landings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unsplit landings of 20 accounts and 2 months; the simulator writes the same bytes for the same arguments."""
    landings = {}
    for events_format in ("jsonl", "parquet"):
        out = tmp_path_factory.mktemp(f"reference_{events_format}")
        subprocess.run(
            [str(Path(sys.executable).with_name("csw")), "simulate", "--out", str(out), "--accounts", "20",
             "--months", "2", "--seed", "7", "--events-format", events_format],
            check=True, capture_output=True,
        )
        landings[events_format] = out
    return landings


def test_day_split_moves_last_day_jsonl(tmp_path: Path, reference_landings: dict[str, Path]) -> None:
    reference = reference_landings["jsonl"] / "events"
    prepared = prepare_landing(SizeSpec("tiny", accounts=20, months=2, events_format="jsonl"), tmp_path)
    original = _jsonl_lines(reference / "2024-02.jsonl.gz")
    remaining = _jsonl_lines(prepared.landing / "events" / "2024-02.jsonl.gz")
    moved = _jsonl_lines(prepared.new_day_file)

    assert prepared.new_day == max(_received_day(line) for line in original)
    assert prepared.new_day_file.name == f"{prepared.new_day}.jsonl.gz"
    assert len(moved) > 0
    assert moved == [line for line in original if _received_day(line) == prepared.new_day]
    assert remaining == [line for line in original if _received_day(line) != prepared.new_day]
    assert len(remaining) + len(moved) == len(original)
    assert prepared.new_day_events == len(moved)
    assert _sha256(prepared.landing / "events" / "2024-01.jsonl.gz") == _sha256(reference / "2024-01.jsonl.gz")
    assert prepared.events == len(original) + len(_jsonl_lines(reference / "2024-01.jsonl.gz"))


def test_day_split_moves_last_day_parquet(tmp_path: Path, reference_landings: dict[str, Path]) -> None:
    reference = reference_landings["parquet"] / "events"
    prepared = prepare_landing(SizeSpec("tiny", accounts=20, months=2, events_format="parquet"), tmp_path)
    original = _parquet_rows(reference / "2024-02.parquet")
    remaining = _parquet_rows(prepared.landing / "events" / "2024-02.parquet")
    moved = _parquet_rows(prepared.new_day_file)
    received_at = 11  # position of receivedAt in the simulator's Parquet schema

    assert prepared.new_day == max(row[received_at] for row in original).date().isoformat()
    assert len(moved) > 0
    assert moved == [row for row in original if row[received_at].date().isoformat() == prepared.new_day]
    assert remaining == [row for row in original if row[received_at].date().isoformat() != prepared.new_day]
    assert _sha256(prepared.landing / "events" / "2024-01.parquet") == _sha256(reference / "2024-01.parquet")


def test_landing_reused_and_day_toggled(tmp_path: Path) -> None:
    spec = SizeSpec("tiny", accounts=20, months=2, events_format="jsonl")
    first = prepare_landing(spec, tmp_path)
    month_file = first.landing / "events" / "2024-02.jsonl.gz"
    written_at = month_file.stat().st_mtime_ns

    second = prepare_landing(spec, tmp_path)
    day_in_landing = first.landing / "events" / first.new_day_file.name
    set_new_day_present(second, present=True)
    assert day_in_landing.read_bytes() == first.new_day_file.read_bytes()
    set_new_day_present(second, present=False)

    assert second == first
    assert month_file.stat().st_mtime_ns == written_at
    assert not day_in_landing.exists()


# ---------------------------------------------------------------------------------------------
# Results page

MACHINE = {
    "cpu": "Test CPU 3000", "cores": 2, "ram_bytes": 16 * 1000**3, "os": "Test Linux", "python": "3.11.9",
    "duckdb": "2.0.1", "dbt-core": "1.11.16", "dagster": "1.13.27",
}


def _step(seconds: float | None, peak_bytes: int | None = 1 * 1000**3, exit_code: int | None = 0, note: str = "",
          killed: bool = False) -> dict:
    return {"seconds": seconds, "peak_bytes": peak_bytes, "exit_code": exit_code, "killed": killed, "note": note}


def _result(size: str, events: int, steps: dict) -> dict:
    return {
        "size": size, "date": "2026-12-05T00:00:00+00:00", "git_commit": "abc123", "machine": MACHINE,
        "events": events, "accounts": events // 1000, "months": 12, "seed": 7,
        "events_format": "parquet", "new_day": "2024-12-31", "new_day_events": events // 400,
        "simulate_seconds": 1.0, "steps": steps,
    }


HAND_MADE_RESULTS = [
    _result("1m", 1_000_000, {"full": _step(100.0), "core": _step(50.0)}),
    _result("10m", 10_000_000, {
        "full": _step(1000.0),
        "incremental": _step(80.0),
        "core": _step(650.0),
        "pandas": _step(312.0, peak_bytes=20_100_000_000, exit_code=-9, killed=True, note="killed at 20GB after 312 s"),
    }),
    _result("100m", 100_000_000, {
        "full": _step(11000.0, peak_bytes=13 * 1000**3),
        "core": _step(6000.0),
        "floor": _step(5000.0),
    }),
]

# Worked out by hand from HAND_MADE_RESULTS:
# core / floor at 100m = 6000 / 5000 = 1.20 <= 1.5; full peak 13 GB > 12 GB;
# incremental / full at 10m = 80 / 1000 = 0.08 <= 0.1; full growth 1000 / 100 = 10 and
# 11000 / 1000 = 11 (<= 12); core growth 650 / 50 = 13 (> 12) and 6000 / 650 = 9.23;
# pandas killed at 10m while core succeeded, so the pipeline wins.
EXPECTED_CHECK_ROWS = [
    "| 100m: core time / floor time at most 1.5 | 1.20 | pass |",
    "| 100m: full pipeline peak memory at most 12.0 GB | 13.0 GB | fail |",
    "| 10m: incremental time / full time at most 0.1 | 0.08 | pass |",
    "| full: time growth per tenfold events, 1m to 10m, at most 12x | 10.00x | pass |",
    "| full: time growth per tenfold events, 10m to 100m, at most 12x | 11.00x | pass |",
    "| core: time growth per tenfold events, 1m to 10m, at most 12x | 13.00x | fail |",
    "| core: time growth per tenfold events, 10m to 100m, at most 12x | 9.23x | pass |",
    "| 10m: pipeline (core marts) faster than pandas | pandas failed: killed at 20GB after 312 s | pass |",
]


def test_page_from_hand_made_results(tmp_path: Path) -> None:
    for result in HAND_MADE_RESULTS:
        (tmp_path / f"{result['size']}.json").write_text(json.dumps(result))

    page = render_page(load_results(tmp_path))

    for row in EXPECTED_CHECK_ROWS:
        assert row in page
    assert "- CPU: Test CPU 3000, 2 cores" in page
    assert "| 10m | 10,000,000 | 1000.0 s | 1.0 GB | 80.0 s | 1.0 GB | 650.0 s | 1.0 GB | not run |  | " \
           "killed at 20GB after 312 s | 20.1 GB |" in page
    assert "- 10m pandas: killed at 20GB after 312 s" in page


def test_checks_not_measured_without_figures() -> None:
    results = {"1m": HAND_MADE_RESULTS[0]}
    failed_floor = _result("100m", 100_000_000, {"core": _step(6000.0), "floor": _step(40.0, exit_code=1, note="boom")})
    results["100m"] = failed_floor

    checks = {check.target: check for check in compute_checks(results)}

    core_floor = checks["100m: core time / floor time at most 1.5"]
    assert (core_floor.figure, core_floor.status) == ("floor failed at 100m", "not measured")
    incremental = checks["10m: incremental time / full time at most 0.1"]
    assert (incremental.figure, incremental.status) == ("incremental not measured at 10m", "not measured")


def test_growth_per_tenfold_uneven_counts() -> None:
    # 100 times the events and 40 times the time: 40 ** (1 / 2) = 6.325 per tenfold.
    assert growth_per_tenfold(10.0, 400.0, 1_000_000, 100_000_000) == pytest.approx(6.3246, abs=1e-4)
    # 9.5 times the events and 10 times the time: 10 ** (1 / log10(9.5)) = 10 ** 1.0228 = 10.54.
    assert growth_per_tenfold(100.0, 1000.0, 1_000_000, 9_500_000) == pytest.approx(10.54, abs=0.01)


CSW_RUN_SUMMARY = """assets: 79 materialized, 0 failed, 0 skipped
checks: 268 passed, 0 failed, 0 errored, 0 not run
slowest steps (wall seconds):
  raw_events: 105.0
  dbt_core_models: 88.2
raw tables after the run, all loads so far (rows / rejected rows / duplicates dropped):
  raw.events     10008732         0     70012
wall time: 403.9 s
"""


def test_slowest_steps_from_summary() -> None:
    assert slowest_steps(CSW_RUN_SUMMARY) == {"raw_events": 105.0, "dbt_core_models": 88.2}
    assert slowest_steps("assets: 1 materialized\nwall time: 2.0 s\n") == {}


def test_merge_keeps_other_steps_of_same_landing(tmp_path: Path) -> None:
    path = tmp_path / "10m.json"
    path.write_text(json.dumps({"events": 100, "steps": {"full": {"seconds": 5.0}, "floor": {"seconds": 1.0}}}))

    merged = merge_earlier_steps(path, {"events": 100, "steps": {"floor": {"seconds": 2.0}}})
    other_landing = merge_earlier_steps(path, {"events": 101, "steps": {"floor": {"seconds": 2.0}}})

    assert merged["steps"] == {"full": {"seconds": 5.0}, "floor": {"seconds": 2.0}}
    assert other_landing["steps"] == {"floor": {"seconds": 2.0}}


def test_page_names_kept_steps(tmp_path: Path) -> None:
    earlier_step = {**_step(900.0), "measured_at": "2026-12-04T02:00:00+00:00", "git_commit": "old456"}
    this_run_step = {**_step(600.0), "measured_at": "2026-12-05T01:00:00+00:00", "git_commit": "abc123"}
    result = _result("100m", 100_000_000, {"full": earlier_step, "core": this_run_step})
    (tmp_path / "100m.json").write_text(json.dumps(result))

    page = render_page(load_results(tmp_path))

    assert "  - full: kept from 2026-12-04T02:00:00+00:00 at commit old456" in page
    assert "  - core: kept" not in page
