"""Shared fixtures: a small simulated landing folder and the warehouse of one full pipeline run on it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from cs_warehouse.config import DATA_DOCS_ENV, MODEL_STORE_ENV

SMALL_ACCOUNTS = 60
SMALL_MONTHS = 8
SMALL_SEED = 11


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing folder simulated once per session: 60 accounts, 8 months, fixed seed, events as JSON Lines."""
    from cs_warehouse.simulate import simulate

    out_dir = tmp_path_factory.mktemp("small_landing")
    simulate(out_dir=out_dir, accounts=SMALL_ACCOUNTS, months=SMALL_MONTHS, seed=SMALL_SEED, events_format="jsonl")
    return out_dir


@pytest.fixture(scope="session")
def pipeline_run(small_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """Run `csw run` once on `small_landing`; yield the warehouse path and the exit code.

    The model store and the Data Docs folder point into the session's temporary folder for the
    rest of the session, so the run writes nothing into the working tree.
    """
    from cs_warehouse.run import run_pipeline

    root = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_STORE_ENV, str(root / "model_store"))
        patch.setenv(DATA_DOCS_ENV, str(root / "data_docs"))
        warehouse = root / "warehouse.duckdb"
        exit_code = run_pipeline(small_landing, warehouse)
        yield warehouse, exit_code


@pytest.fixture(scope="session")
def pipeline_warehouse(pipeline_run: tuple[Path, int]) -> Path:
    """The DuckDB file after one full pipeline run on `small_landing` (open it read-only)."""
    return pipeline_run[0]

