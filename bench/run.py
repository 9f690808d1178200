"""Benchmark the pipeline against a hand-written DuckDB floor and pandas at about 1, 10 and 100 million events.

    .venv/bin/python -m bench.run --work DIR [--sizes 1m,10m,100m] [--steps full,incremental,core,floor,pandas]
        [--pandas-memory-cap 20GB] [--timeout-minutes N]

For each size: simulate the landing (bench.sizes), then measure each step in its own subprocess,
one at a time, and write bench/results/<size>.json. Finally regenerate docs/benchmarks.md from
every results file present and print its table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.measure import SAMPLE_INTERVAL_SECONDS, Measurement, format_bytes, parse_size, run_measured
from bench.sizes import SIZES, PreparedLanding, prepare_landing, set_new_day_present
from cs_warehouse.config import (
    DATA_DOCS_ENV,
    LANDING_DIR_ENV,
    MODEL_STORE_ENV,
    PROJECT_ROOT,
    WAREHOUSE_ENV,
    load_settings,
)
from cs_warehouse.errors import CswError

LOGGER = logging.getLogger(__name__)

STEPS = ("full", "incremental", "core", "floor", "pandas")
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
PAGE_PATH = PROJECT_ROOT / "docs" / "benchmarks.md"
DEFAULT_PANDAS_MEMORY_CAP = "20GB"
DEFAULT_TIMEOUT_MINUTES = 240
VERSIONED_PACKAGES = ("duckdb", "dbt-core", "dagster")

# Targets that docs/benchmarks.md marks pass or fail.
CORE_OVER_FLOOR_MAX = 1.5
FULL_PEAK_MAX_BYTES = 12 * 1000**3
INCREMENTAL_OVER_FULL_MAX = 0.1
GROWTH_PER_TENFOLD_MAX = 12.0



# ---------------------------------------------------------------------------------------------
# Machine and revision


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except FileNotFoundError:
        pass
    return platform.platform()


def describe_machine() -> dict:
    """Return the CPU, cores, RAM, OS and the versions of Python and the measured packages."""
    machine = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_bytes": _ram_bytes(),
        "os": _os_name(),
        "python": platform.python_version(),
    }
    for package in VERSIONED_PACKAGES:
        machine[package] = metadata.version(package)
    return machine


def git_commit() -> str:
    """Return the checked-out commit, with +dirty when the working tree has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


# ---------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class StepOptions:
    pandas_memory_cap: str
    timeout_seconds: float


def _step_dir(size_dir: Path, step: str, fresh: bool) -> Path:
    folder = size_dir / "runs" / step
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pipeline_env(landing: Path, run_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        LANDING_DIR_ENV: str(landing),
        WAREHOUSE_ENV: str(run_dir / "warehouse.duckdb"),
        MODEL_STORE_ENV: str(run_dir / "model_store"),
        DATA_DOCS_ENV: str(run_dir / "data_docs"),
    })
    return env


def _csw_run(landing: Path, run_dir: Path, *extra: str) -> list[str]:
    csw = Path(sys.executable).with_name("csw")
    return [str(csw), "run", "--landing", str(landing), "--warehouse", str(run_dir / "warehouse.duckdb"), *extra]


# The block `csw run` prints after its checks: "slowest steps (wall seconds):" then "  <step>: <seconds>".
SLOWEST_STEPS_HEADER = "slowest steps (wall seconds):"
PIPELINE_STEPS = ("full", "incremental", "core")


def slowest_steps(stdout: str) -> dict[str, float]:
    """Return the Dagster steps and wall seconds that a `csw run` summary lists as its slowest."""
    steps: dict[str, float] = {}
    lines = iter(stdout.splitlines())
    for line in lines:
        if line.strip() == SLOWEST_STEPS_HEADER:
            break
    for line in lines:
        if not line.startswith("  "):
            break
        name, _, seconds = line.strip().rpartition(": ")
        try:
            steps[name] = float(seconds)
        except ValueError:
            break
    return steps


def attach_slowest_steps(result: dict, size_dir: Path) -> None:
    """Add each pipeline step's slowest Dagster steps, read from its stdout log, to its record."""
    for step in PIPELINE_STEPS:
        record = result["steps"].get(step)
        stdout = size_dir / "runs" / step / "stdout.log"
        if record is not None and record.get("exit_code") is not None and stdout.exists():
            record["slowest_steps"] = slowest_steps(stdout.read_text(errors="replace"))


def _skipped(note: str) -> dict:
    return {"seconds": None, "peak_bytes": None, "exit_code": None, "killed": False, "note": note}


def _record(measurement: Measurement) -> dict:
    return {
        "seconds": round(measurement.seconds, 2),
        "peak_bytes": measurement.peak_bytes,
        "exit_code": measurement.exit_code,
        "killed": measurement.killed,
        "note": measurement.note,
    }


def run_step(step: str, prepared: PreparedLanding, size_dir: Path, options: StepOptions, done: dict[str, dict]) -> dict:
    """Measure one step on a prepared landing; return its result record."""
    landing = prepared.landing
    # Only the full run reads the base landing; every later step reads the whole landing.
    set_new_day_present(prepared, present=step != "full")
    common = {"cwd": PROJECT_ROOT, "timeout_seconds": options.timeout_seconds}

    if step == "full":
        run_dir = _step_dir(size_dir, "full", fresh=True)
        return _record(run_measured(_csw_run(landing, run_dir), log_dir=run_dir, env=_pipeline_env(landing, run_dir), **common))

    if step == "incremental":
        if done.get("full", {}).get("exit_code") != 0:
            return _skipped("not run: needs a successful full step earlier in the same benchmark run")
        full_dir = size_dir / "runs" / "full"
        log_dir = _step_dir(size_dir, "incremental", fresh=True)
        command = _csw_run(landing, full_dir, "--partition", prepared.new_day)
        return _record(run_measured(command, log_dir=log_dir, env=_pipeline_env(landing, full_dir), **common))

    if step == "core":
        run_dir = _step_dir(size_dir, "core", fresh=True)
        command = _csw_run(landing, run_dir, "--select", "core")
        return _record(run_measured(command, log_dir=run_dir, env=_pipeline_env(landing, run_dir), **common))

    if step == "floor":
        run_dir = _step_dir(size_dir, "floor", fresh=True)
        command = [
            sys.executable, "-m", "bench.floor", "--landing", str(landing), "--db", str(run_dir / "floor.duckdb"),
            # The same DuckDB memory limit as the pipeline's warehouse connections.
            "--memory-limit", load_settings().duckdb_memory_limit,
        ]
        return _record(run_measured(command, log_dir=run_dir, **common))

    if step == "pandas":
        run_dir = _step_dir(size_dir, "pandas", fresh=True)
        command = [sys.executable, "-m", "bench.pandas_marts", "--landing", str(landing), "--out", str(run_dir / "marts")]
        measurement = run_measured(
            command, log_dir=run_dir, memory_cap_bytes=parse_size(options.pandas_memory_cap),
            memory_cap_text=options.pandas_memory_cap, **common,
        )
        return _record(measurement)

    raise AssertionError(f"unknown step {step!r}")


def run_size(size: str, steps: Sequence[str], work: Path, options: StepOptions) -> dict:
    """Prepare one size's landing, measure the requested steps in the fixed order and return the results."""
    spec = SIZES[size]
    size_dir = work / size
    started = dt.datetime.now(dt.timezone.utc)
    prepared = prepare_landing(spec, size_dir)

    done: dict[str, dict] = {}
    for step in STEPS:
        if step not in steps:
            continue
        LOGGER.info("%s: measuring %s", size, step)
        measured_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        done[step] = {**run_step(step, prepared, size_dir, options, done), "measured_at": measured_at,
                      "git_commit": git_commit()}
        LOGGER.info("%s %s: %s", size, step, done[step])

    return {
        "size": size,
        "date": started.isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": describe_machine(),
        "events": prepared.events,
        "accounts": spec.accounts,
        "months": spec.months,
        "seed": spec.seed,
        "events_format": spec.events_format,
        "new_day": prepared.new_day,
        "new_day_events": prepared.new_day_events,
        "simulate_seconds": round(prepared.simulate_seconds, 1),
        "steps": done,
    }


# ---------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class Check:
    """One target: its statement, the figure computed from the results and pass, fail or not measured."""

    target: str
    figure: str
    status: str


def _step(results: dict[str, dict], size: str, step: str) -> dict | None:
    return results.get(size, {}).get("steps", {}).get(step)


def _succeeded(record: dict | None) -> bool:
    return record is not None and record.get("exit_code") == 0 and record.get("seconds") is not None


def _missing(results: dict[str, dict], size: str, *steps: str) -> str | None:
    """Return why a check cannot be computed (a step not run or failed at that size), or None."""
    for step in steps:
        record = _step(results, size, step)
        if record is None:
            return f"{step} not measured at {size}"
        if not _succeeded(record):
            return f"{step} failed at {size}"
    return None


def _status(passed: bool) -> str:
    return "pass" if passed else "fail"


def _ratio_check(results: dict[str, dict], size: str, numerator: str, denominator: str, maximum: float) -> Check:
    target = f"{size}: {numerator} time / {denominator} time at most {maximum:g}"
    reason = _missing(results, size, numerator, denominator)
    if reason:
        return Check(target, reason, "not measured")
    ratio = _step(results, size, numerator)["seconds"] / _step(results, size, denominator)["seconds"]
    return Check(target, f"{ratio:.2f}", _status(ratio <= maximum))


def _memory_check(results: dict[str, dict]) -> Check:
    target = f"100m: full pipeline peak memory at most {format_bytes(FULL_PEAK_MAX_BYTES)}"
    reason = _missing(results, "100m", "full")
    if reason:
        return Check(target, reason, "not measured")
    peak = _step(results, "100m", "full")["peak_bytes"]
    return Check(target, format_bytes(peak), _status(peak <= FULL_PEAK_MAX_BYTES))


def growth_per_tenfold(seconds_small: float, seconds_large: float, events_small: int, events_large: int) -> float:
    """Return the time factor per tenfold events, assuming time follows a power of the event count.

    (t_large / t_small) ** (1 / log10(n_large / n_small)): exactly t_large / t_small when the
    counts differ tenfold, and independent of how far the simulated counts miss ten.
    """
    return (seconds_large / seconds_small) ** (1 / math.log10(events_large / events_small))


def _growth_check(results: dict[str, dict], step: str, small: str, large: str) -> Check:
    target = f"{step}: time growth per tenfold events, {small} to {large}, at most {GROWTH_PER_TENFOLD_MAX:g}x"
    reason = _missing(results, small, step) or _missing(results, large, step)
    if reason:
        return Check(target, reason, "not measured")
    factor = growth_per_tenfold(
        _step(results, small, step)["seconds"], _step(results, large, step)["seconds"],
        results[small]["events"], results[large]["events"],
    )
    return Check(target, f"{factor:.2f}x", _status(factor <= GROWTH_PER_TENFOLD_MAX))


def _pandas_check(results: dict[str, dict]) -> Check:
    target = "10m: pipeline (core marts) faster than pandas"
    reason = _missing(results, "10m", "core")
    pandas = _step(results, "10m", "pandas")
    if reason:
        return Check(target, reason, "not measured")
    if pandas is None:
        return Check(target, "pandas not measured at 10m", "not measured")
    if not _succeeded(pandas):
        return Check(target, f"pandas failed: {pandas.get('note') or 'exit code ' + str(pandas.get('exit_code'))}", "pass")
    ratio = _step(results, "10m", "core")["seconds"] / pandas["seconds"]
    return Check(target, f"core / pandas time {ratio:.2f}", _status(ratio < 1))


def compute_checks(results: dict[str, dict]) -> list[Check]:
    """Compute every target's figure and status from the results, keyed by size name."""
    return [
        _ratio_check(results, "100m", "core", "floor", CORE_OVER_FLOOR_MAX),
        _memory_check(results),
        _ratio_check(results, "10m", "incremental", "full", INCREMENTAL_OVER_FULL_MAX),
        _growth_check(results, "full", "1m", "10m"),
        _growth_check(results, "full", "10m", "100m"),
        _growth_check(results, "core", "1m", "10m"),
        _growth_check(results, "core", "10m", "100m"),
        _pandas_check(results),
    ]


# ---------------------------------------------------------------------------------------------
# Page


def _time_cell(record: dict | None) -> str:
    if record is None:
        return "not run"
    if record.get("seconds") is None:
        return "skipped"
    if record.get("killed"):
        return record["note"]
    if record.get("exit_code") != 0:
        return f"failed (exit {record.get('exit_code')}) after {record['seconds']:.0f} s"
    return f"{record['seconds']:.1f} s"


def _memory_cell(record: dict | None) -> str:
    if record is None or record.get("peak_bytes") is None:
        return ""
    return format_bytes(record["peak_bytes"])


def render_table(results: dict[str, dict]) -> str:
    """Return the Markdown table: one row per size, time and peak memory for each step."""
    header = ["size", "events"]
    for step in STEPS:
        header += [f"{step} time", f"{step} peak"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size in sorted(results, key=lambda name: results[name]["events"]):
        result = results[size]
        row = [size, f"{result['events']:,}"]
        for step in STEPS:
            record = result["steps"].get(step)
            row += [_time_cell(record), _memory_cell(record)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _machine_lines(machine: dict) -> list[str]:
    return [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores",
        f"- RAM: {format_bytes(machine['ram_bytes'])}",
        f"- OS: {machine['os']}",
        f"- Python {machine['python']}, DuckDB {machine['duckdb']}, dbt-core {machine['dbt-core']}, "
        f"Dagster {machine['dagster']}",
    ]


def render_page(results: dict[str, dict]) -> str:
    """Return docs/benchmarks.md for the results, keyed by size name."""
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.py` from `bench/results/*.json`; do not edit by hand. "
        "See `bench/README.md` for what each step measures.",
        "",
    ]
    if not results:
        lines += ["No results yet: run the benchmark (below).", ""]

    machines: list[dict] = []
    for result in results.values():
        if result["machine"] not in machines:
            machines.append(result["machine"])
    for machine in machines:
        sizes = ", ".join(size for size, result in results.items() if result["machine"] == machine)
        lines += [f"## Machine ({sizes})", "", *_machine_lines(machine), ""]

    if results:
        lines += ["## Runs", ""]
        for size in sorted(results, key=lambda name: results[name]["events"]):
            result = results[size]
            lines.append(
                f"- {size}: {result['events']:,} events ({result['accounts']:,} accounts, {result['months']} months, "
                f"{result['events_format']}, one-day partition {result['new_day']} with "
                f"{result['new_day_events']:,} events), measured {result['date']} at commit {result['git_commit']}"
            )
            for step, record in result["steps"].items():
                # A step kept from an earlier run of the same landing shows when and at which commit it ran.
                if record.get("measured_at", result["date"]) < result["date"]:
                    lines.append(f"  - {step}: kept from {record['measured_at']} at commit {record['git_commit']}")
        lines += ["", "## Results", "", render_table(results), ""]
        notes = [
            f"- {size} {step}: {record['note']}"
            for size, result in results.items()
            for step, record in result["steps"].items()
            if record.get("note") and record.get("exit_code") != 0
        ]
        if notes:
            lines += ["Failed and skipped steps:", "", *notes, ""]
        lines += [
            "Time is wall time; peak is the highest sum of resident memory (VmRSS) over the step's process "
            f"and all its descendants, sampled every {SAMPLE_INTERVAL_SECONDS:g} s.",
            "",
        ]
        lines += render_breakdown(results)

    lines += ["## Targets", "", "| target | figure | status |", "|---|---|---|"]
    lines += [f"| {check.target} | {check.figure} | {check.status} |" for check in compute_checks(results)]
    lines += [
        "",
        "Growth per tenfold events is (t_large / t_small) ^ (1 / log10(n_large / n_small)), so sizes whose "
        "event counts are not exactly ten times apart compare fairly. The pipeline beats pandas when its "
        "core-marts step is faster, or when pandas fails.",
        "",
        "## How to rerun",
        "",
        "```",
        ".venv/bin/python -m bench.run --work /path/to/scratch --sizes 1m,10m,100m",
        "```",
        "",
    ]
    return "\n".join(lines)


def render_breakdown(results: dict[str, dict]) -> list[str]:
    """Return the section that lists the slowest Dagster steps of each pipeline step, as `csw run` reported them."""
    lines = []
    for size in sorted(results, key=lambda name: results[name]["events"]):
        for step in PIPELINE_STEPS:
            record = results[size]["steps"].get(step) or {}
            slowest = record.get("slowest_steps")
            if slowest:
                listed = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest.items())
                lines.append(f"- {size} {step}: {listed}")
    if not lines:
        return []
    return ["### Where the pipeline's time goes", "",
            "The slowest Dagster steps of each pipeline run, from the summary `csw run` prints:", "", *lines, ""]


def load_results(results_dir: Path) -> dict[str, dict]:
    """Read every results file in results_dir, keyed by size name."""
    results = {}
    for path in sorted(results_dir.glob("*.json")):
        result = json.loads(path.read_text())
        results[result["size"]] = result
    return results


# ---------------------------------------------------------------------------------------------
# Command line


def _csv_choice(choices: Sequence[str]):
    def parse(text: str) -> list[str]:
        values = [value.strip() for value in text.split(",") if value.strip()]
        unknown = [value for value in values if value not in choices]
        if unknown or not values:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: use a comma-separated subset of {','.join(choices)}")
        return values

    return parse


def _size_text(text: str) -> str:
    try:
        parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for landings, warehouses and logs (needs tens of GB at 100m)")
    parser.add_argument("--sizes", type=_csv_choice(tuple(SIZES)), default=list(SIZES),
                        help="comma-separated sizes to run (default 1m,10m,100m)")
    parser.add_argument("--steps", type=_csv_choice(STEPS), default=list(STEPS),
                        help="comma-separated steps to measure, always run in the order " + ",".join(STEPS))
    parser.add_argument("--pandas-memory-cap", type=_size_text, default=DEFAULT_PANDAS_MEMORY_CAP,
                        help="kill the pandas step when its process tree's resident memory exceeds this "
                        f"(DuckDB size text, GB = 10^9 bytes; default {DEFAULT_PANDAS_MEMORY_CAP})")
    parser.add_argument("--timeout-minutes", type=float, default=DEFAULT_TIMEOUT_MINUTES,
                        help=f"kill any step still running after this many minutes (default {DEFAULT_TIMEOUT_MINUTES})")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: add the step breakdowns from the logs under --work to the results "
                        "files and write the page again")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the steps an earlier run recorded for the same size instead of keeping them")
    return parser


def merge_earlier_steps(path: Path, result: dict) -> dict:
    """Keep the steps of an earlier results file of the same landing that this run did not measure.

    A size can then be measured in several runs (the 100 m steps take hours); each step records its
    own time and commit.
    """
    if not path.exists():
        return result
    earlier = json.loads(path.read_text())
    if earlier.get("events") != result["events"]:
        return result
    kept = {step: record for step, record in earlier.get("steps", {}).items() if step not in result["steps"]}
    return {**result, "steps": {**kept, **result["steps"]}}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = StepOptions(pandas_memory_cap=args.pandas_memory_cap, timeout_seconds=args.timeout_minutes * 60)
    work = args.work.expanduser().resolve()

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        for path in sorted(RESULTS_DIR.glob("*.json")):
            result = json.loads(path.read_text())
            attach_slowest_steps(result, work / result["size"])
            path.write_text(json.dumps(result, indent=2) + "\n")
    for size in sorted(args.sizes, key=lambda name: SIZES[name].accounts) if not args.render_only else []:
        try:
            result = run_size(size, args.steps, work, options)
        except CswError as error:
            print(f"bench: error: {error}", file=sys.stderr)
            return 2
        attach_slowest_steps(result, work / size)
        path = RESULTS_DIR / f"{size}.json"
        if not args.fresh:
            result = merge_earlier_steps(path, result)
        path.write_text(json.dumps(result, indent=2) + "\n")

    results = load_results(RESULTS_DIR)
    PAGE_PATH.write_text(render_page(results))
    print(render_table(results))
    print()
    for check in compute_checks(results):
        print(f"{check.status:>12}  {check.target}: {check.figure}")
    print(f"\nwrote {PAGE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
