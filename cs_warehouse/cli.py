"""The `csw` command line: simulate landing data, import public data sets, run the pipeline."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cs_warehouse.errors import CswError
from cs_warehouse.config import DEFAULT_LANDING_DIR, DEFAULT_WAREHOUSE, LANDING_DIR_ENV, WAREHOUSE_ENV

IMPORTABLE_DATA_SETS = ("oulad", "telco", "online-retail", "helpdesk")
NOISY_LOGGERS = ("alembic", "great_expectations", "matplotlib", "urllib3")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csw", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser("simulate", help="write a simulated B2B SaaS landing data set")
    simulate.add_argument("--out", type=Path, required=True, help="landing folder to write (created if missing)")
    simulate.add_argument("--accounts", type=int, default=1000, help="number of accounts (default 1000)")
    simulate.add_argument("--months", type=int, default=24, help="months of history (default 24)")
    simulate.add_argument("--seed", type=int, default=7, help="random seed; the same seed writes the same bytes")
    simulate.add_argument(
        "--events-format",
        choices=("jsonl", "parquet"),
        default="jsonl",
        help="file format of product events (default jsonl, gzipped; parquet for large volumes)",
    )
    simulate.add_argument(
        "--events-files",
        choices=("monthly", "daily"),
        default="monthly",
        help="one events file per month (default) or per day received, named by the day",
    )

    importer = commands.add_parser("import", help="convert a public data set into landing files")
    importer.add_argument("name", choices=IMPORTABLE_DATA_SETS, help="data set to import")
    importer.add_argument("--from", dest="source", type=Path, required=True, help="folder or file of the original data")
    importer.add_argument("--out", type=Path, required=True, help="landing folder to write (created if missing)")

    run = commands.add_parser(
        "run",
        help="materialize the assets in one Dagster run and print a summary",
        description="By default: every asset over every event day, the churn model retrained. With --partition "
        "or --from/--to: the daily update of those days (new files, event models over the days and their "
        "look-back, everything downstream, scores from the promoted model; no retraining).",
    )
    run.add_argument(
        "--landing",
        type=Path,
        help=f"landing folder (default ${LANDING_DIR_ENV} or ./{DEFAULT_LANDING_DIR}; "
        f"demo data is simulated first when neither is set, ./{DEFAULT_LANDING_DIR} is empty and the run "
        "covers every day)",
    )
    run.add_argument("--warehouse", type=Path, help=f"DuckDB file (default ${WAREHOUSE_ENV} or ./{DEFAULT_WAREHOUSE})")
    run.add_argument("--partition", metavar="DAY", help="run the daily update of one event day (YYYY-MM-DD)")
    run.add_argument("--from", dest="first_day", metavar="DAY", help="first day of a backfill run (with --to)")
    run.add_argument("--to", dest="last_day", metavar="DAY", help="last day of a backfill run, included (with --from)")
    run.add_argument(
        "--select",
        choices=("all", "core"),
        default="all",
        help="all assets (default), or core: the monthly MRR, weekly engagement and daily health marts and "
        "what they depend on",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except CswError as error:
        print(f"csw {args.command}: error: {error}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that log their internals at INFO would bury the pipeline's own progress lines.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)

    if args.command == "simulate":
        from cs_warehouse.simulate import simulate

        simulate(
            out_dir=args.out,
            accounts=args.accounts,
            months=args.months,
            seed=args.seed,
            events_format=args.events_format,
            events_files=args.events_files,
        )
        return 0

    if args.command == "import":
        from cs_warehouse.importers import import_data_set

        import_data_set(args.name, source=args.source, out_dir=args.out)
        return 0

    if args.command == "run":
        from cs_warehouse.run import make_scope, run_pipeline

        scope = make_scope(args.select, args.partition, args.first_day, args.last_day)
        return run_pipeline(landing_dir=args.landing, warehouse=args.warehouse, scope=scope)

    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
