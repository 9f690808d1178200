"""The `csw` command line: simulate landing data, import public data sets, run the pipeline."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cs_warehouse.errors import CswError
from cs_warehouse.config import DEFAULT_LANDING_DIR, DEFAULT_WAREHOUSE, LANDING_DIR_ENV, WAREHOUSE_ENV

IMPORTABLE_DATA_SETS = ("oulad", "telco", "online-retail", "helpdesk")
NOISY_LOGGERS = ("great_expectations", "matplotlib", "urllib3")


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

    importer = commands.add_parser("import", help="convert a public data set into landing files")
    importer.add_argument("name", choices=IMPORTABLE_DATA_SETS, help="data set to import")
    importer.add_argument("--from", dest="source", type=Path, required=True, help="folder or file of the original data")
    importer.add_argument("--out", type=Path, required=True, help="landing folder to write (created if missing)")

    run = commands.add_parser("run", help="materialize every asset in one Dagster run and print a summary")
    run.add_argument(
        "--landing",
        type=Path,
        help=f"landing folder (default ${LANDING_DIR_ENV} or ./{DEFAULT_LANDING_DIR}; "
        "simulated first when the default folder is empty)",
    )
    run.add_argument("--warehouse", type=Path, help=f"DuckDB file (default ${WAREHOUSE_ENV} or ./{DEFAULT_WAREHOUSE})")
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
        )
        return 0

    if args.command == "import":
        from cs_warehouse.importers import import_data_set

        import_data_set(args.name, source=args.source, out_dir=args.out)
        return 0

    if args.command == "run":
        from cs_warehouse.run import run_pipeline

        return run_pipeline(landing_dir=args.landing, warehouse=args.warehouse)

    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
