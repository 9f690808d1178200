"""dbt models as Dagster assets: the event models, the core models, and the models driven by the churn scores.

Three @dbt_assets definitions split the dbt graph. `dbt_event_models` (`tag:event_window`: the
incremental model that aggregates event rows) is partitioned by day like raw.events: a run passes its
partition range to dbt in the environment variables CSW_EVENT_WINDOW_START and CSW_EVENT_WINDOW_END
(see dbt_project/macros/event_window.sql), and a run without a partition rebuilds it with
--full-refresh. The view stg_product__events stays unpartitioned, in
`dbt_core_models`: Dagster cannot run a partitioned asset whose upstream asset is partitioned too in
a run without a partition (it looks up the upstream's partition to version the input), and the
default `csw run` is such a run. Dagster splits `dbt_core_models` into one step before the event
model and one after. `dbt_core_models` builds everything else that does not
read the `ml` source. The ML assets train and score on its marts, and `dbt_score_models` then builds the
models downstream of `source:ml`. All run `dbt build`, so dbt tests run with their models and appear as
asset checks. An error-severity test failure fails the step, and Dagster then skips every asset
downstream of it.
"""

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.utils import select_unique_ids

from cs_warehouse.config import (
    DBT_PROJECT_DIR,
    DUCKDB_MEMORY_LIMIT_ENV,
    WAREHOUSE_ENV,
    Settings,
    load_settings,
    temporary_environment,
)
from cs_warehouse.ingest import DayWindow
from cs_warehouse.locking import lock_for_this_process
from cs_warehouse.raw_schema import create_raw_schema
from orchestration.partitions import EVENT_BACKFILL_POLICY, EVENT_DAYS, event_window, run_window
from orchestration.resources import WAREHOUSE_POOL

SCORE_MODELS_SELECTION = "source:ml+"
# dbt's indirect selection of tests, read from the environment by dbt and by dagster-dbt (which turns
# it off when it selects tests one by one). "buildable" runs a test once every model it reads is
# built or is upstream of a model being built. Otherwise a relationships test between a selected model
# and one outside the run (a subset such as the core_marts job) fails on a missing table.
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"
INDIRECT_SELECTION = "buildable"
# The event window of a partitioned run, read by dbt_project/macros/event_window.sql when the vars
# event_window_start and event_window_end are empty.
EVENT_WINDOW_START_ENV = "CSW_EVENT_WINDOW_START"
EVENT_WINDOW_END_ENV = "CSW_EVENT_WINDOW_END"
EVENT_MODELS_SELECTION = "tag:event_window"
# Files whose change makes target/manifest.json stale.
DBT_SOURCE_FOLDERS = ("models", "macros", "tests", "seeds", "snapshots", "analyses")
DBT_PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
# Folders under models/ whose models form one asset group each; models elsewhere go to group "dbt".
LAYER_GROUPS = ("staging", "intermediate", "marts", "dashboards", "ml")
# dagster-dbt writes each dbt invocation to its own folder under target/, named <step>-<run id>-<id>.
# Each holds about 7 MB on the demo data, so only the newest 20 (about five runs) are kept.
INVOCATION_FOLDER = re.compile(r"dbt_\w+-[0-9a-f]{7}-[0-9a-f]{7}")
KEPT_INVOCATION_FOLDERS = 20


def find_dbt_executable() -> str:
    """Return the dbt beside this Python (the project's venv), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("dbt") or "dbt"


DBT_EXECUTABLE = find_dbt_executable()


def newest_source_mtime(project_dir: Path) -> float:
    """Return the latest modification time of the files dbt parses, 0.0 when there are none."""
    paths = [project_dir / name for name in DBT_PROJECT_FILES]
    for folder in DBT_SOURCE_FOLDERS:
        paths.extend(path for path in (project_dir / folder).rglob("*") if path.is_file())
    return max((path.stat().st_mtime for path in paths if path.exists()), default=0.0)


def parse_vars_path(project: DbtProject) -> Path:
    """File beside the manifest recording the vars and profile settings it was parsed with."""
    return project.manifest_path.with_name("csw_parse_vars.json")


def is_manifest_stale(project: DbtProject, inputs: str = "") -> bool:
    """Return True when manifest.json is missing, older than any file dbt parses, or parsed with other inputs."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    inputs_path = parse_vars_path(project)
    if inputs and (not inputs_path.exists() or inputs_path.read_text(encoding="utf-8") != inputs):
        return True
    return manifest.stat().st_mtime < newest_source_mtime(project.project_dir)


def parse_inputs(settings: Settings) -> str:
    """Return what a parse depends on besides the project files: the vars and the profile's settings.

    dbt parses the whole project again when the vars or the profile (here the warehouse path and the
    memory limit that profiles.yml reads from the environment) differ from those of its saved parse.
    """
    profile = {WAREHOUSE_ENV: str(settings.warehouse), DUCKDB_MEMORY_LIMIT_ENV: settings.duckdb_memory_limit}
    return json.dumps({"vars": dbt_vars(settings), "profile": profile})


def prepare_manifest(project: DbtProject) -> None:
    """Run `dbt parse` when the manifest is missing, stale, or parsed for other vars or another warehouse.

    The parse gets the vars every run passes and the environment of this process, so that the run's
    dbt invocations reuse its partial_parse.msgpack instead of each parsing the project again.
    """
    settings = load_settings()
    inputs = parse_inputs(settings)
    if is_manifest_stale(project, inputs):
        parser = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        parse_vars = json.dumps(dbt_vars(settings))
        environment = {WAREHOUSE_ENV: str(settings.warehouse), DUCKDB_MEMORY_LIMIT_ENV: settings.duckdb_memory_limit}
        with temporary_environment(environment):
            parser.cli(["parse", "--quiet", "--vars", parse_vars], target_path=project.target_path).wait()
        parse_vars_path(project).write_text(inputs, encoding="utf-8")
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt parse did not write {project.manifest_path}; run `dbt parse` in {project.project_dir} "
            "to see the error."
        )


def asset_key_for_dbt_resource(dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
    """Return [schema, model] for models, seeds and snapshots, and [source, table] for sources."""
    if dbt_resource_props["resource_type"] == "source":
        return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
    return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])


def group_for_dbt_resource(dbt_resource_props: Mapping[str, Any]) -> str:
    """Return the layer folder a model sits in (its path's first folder under models/)."""
    fqn = dbt_resource_props.get("fqn", [])
    layer = fqn[1] if len(fqn) > 2 else ""
    return layer if layer in LAYER_GROUPS else "dbt"


class CsWarehouseDbtTranslator(DagsterDbtTranslator):
    """Maps dbt resources onto the project's asset keys and one asset group per layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return asset_key_for_dbt_resource(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return group_for_dbt_resource(dbt_resource_props)


def dbt_vars(settings: Settings) -> dict[str, str]:
    """Return the dbt vars of every run: the reporting settings.

    They are the vars of the manifest's parse, so dbt reuses that parse. The event window, which
    changes from run to run, goes by the environment instead (event_window_environment).
    """
    return {"reporting_currency": settings.reporting_currency, "reporting_timezone": settings.reporting_timezone}


def event_window_environment(window: DayWindow) -> dict[str, str]:
    """Return the environment variables that give dbt the event window (empty for an open side)."""
    return {
        EVENT_WINDOW_START_ENV: window.start.isoformat() if window.start else "",
        EVENT_WINDOW_END_ENV: window.end.isoformat() if window.end else "",
    }


def dbt_build_args(settings: Settings, full_refresh: bool = False) -> list[str]:
    """Return the `dbt build` arguments that pass the reporting settings as dbt vars.

    Unit tests are left out: they check the models' SQL on fixed rows, not the data, so they run with
    the test suite (tests/test_dbt_project.py builds every model and unit test) rather than in every
    pipeline run.
    """
    return [
        "build",
        "--vars",
        json.dumps(dbt_vars(settings)),
        "--exclude-resource-type",
        "unit_test",
        *(["--full-refresh"] if full_refresh else []),
    ]


def prune_invocation_folders(target_path: Path, keep: int = KEPT_INVOCATION_FOLDERS) -> list[Path]:
    """Delete all but the `keep` newest dbt invocation folders under `target_path` and return the deleted ones."""
    if not target_path.is_dir():
        return []
    folders = [path for path in target_path.iterdir() if path.is_dir() and INVOCATION_FOLDER.fullmatch(path.name)]
    folders.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    deleted = folders[keep:]
    for folder in deleted:
        shutil.rmtree(folder, ignore_errors=True)
    return deleted


def ensure_raw_tables(warehouse: Path) -> None:
    """Create any raw table that ingestion has not created yet, so dbt always finds its sources."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
    finally:
        con.close()


def run_dbt_build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, window: DayWindow | None = None
) -> Iterator[Any]:
    """Run `dbt build` on the selected models against the configured warehouse.

    DuckDB allows one writer, so the raw-table connection is closed before dbt starts. `window` is the
    event window of the partitioned event-model step; an open window (every partition) rebuilds the
    incremental models. The other steps get the window of the run's partitions, which limits the
    dbt tests configured with `where: __event_window__` (dbt_project/macros/event_window.sql).
    """
    settings = load_settings()
    full_refresh = window is not None and window.is_open
    recomputes_window = window is not None
    window = window if window is not None else run_window(context)
    lock_for_this_process(settings.warehouse)
    ensure_raw_tables(settings.warehouse)
    # The dbt subprocess inherits the environment; the absolute path keeps it on this warehouse
    # whatever its working directory.
    os.environ[WAREHOUSE_ENV] = str(settings.warehouse)
    os.environ.setdefault(INDIRECT_SELECTION_ENV, INDIRECT_SELECTION)
    if window.is_open:
        scope = "no event window: incremental models rebuilt from every event" if full_refresh else "no event window"
    else:
        start = window.start.isoformat() if window.start else "the first event"
        end = f"up to (not including) {window.end.isoformat()}" if window.end else "to the last event"
        uses = "incremental models recompute" if recomputes_window else "tests with where __event_window__ read"
        scope = f"event window: event dates from {start} {end}; {uses} it from var event_lookback_days days earlier"
    context.log.info(
        "dbt build on %s (currency %s, timezone %s, %s)",
        settings.warehouse,
        settings.reporting_currency,
        settings.reporting_timezone,
        scope,
    )
    args = dbt_build_args(settings, full_refresh=full_refresh)
    # One folder fewer than the limit, because this invocation adds its own.
    prune_invocation_folders(DBT_PROJECT.target_path, KEPT_INVOCATION_FOLDERS - 1)
    with temporary_environment(event_window_environment(window)):
        yield from dbt.cli(args, context=context).stream()


DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR)
prepare_manifest(DBT_PROJECT)
TRANSLATOR = CsWarehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    select=EVENT_MODELS_SELECTION,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_event_models",
    partitions_def=EVENT_DAYS,
    backfill_policy=EVENT_BACKFILL_POLICY,
    pool=WAREHOUSE_POOL,
)
def dbt_event_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Build the event model incrementally over the run's days and their look-back."""
    yield from run_dbt_build(context, dbt, event_window(context))


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    exclude=f"{SCORE_MODELS_SELECTION} {EVENT_MODELS_SELECTION}",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_core_models",
    pool=WAREHOUSE_POOL,
)
def dbt_core_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Staging, intermediate, marts and feature models: everything not downstream of the churn scores."""
    yield from run_dbt_build(context, dbt)


def score_model_ids(project: DbtProject) -> set[str]:
    """Return the dbt nodes downstream of the `ml` source; empty until such models exist."""
    manifest = json.loads(project.manifest_path.read_text(encoding="utf-8"))
    selected = select_unique_ids(
        select=SCORE_MODELS_SELECTION, exclude="", selector="", project=project, manifest_json=manifest
    )
    return {unique_id for unique_id in selected if unique_id.split(".")[0] in ("model", "seed", "snapshot")}


def build_score_models() -> dg.AssetsDefinition | None:
    """Define `dbt_score_models`, or return None while no model reads the `ml` source."""
    if not score_model_ids(DBT_PROJECT):
        return None

    @dbt_assets(
        manifest=DBT_PROJECT.manifest_path,
        project=DBT_PROJECT,
        select=SCORE_MODELS_SELECTION,
        dagster_dbt_translator=TRANSLATOR,
        name="dbt_score_models",
        pool=WAREHOUSE_POOL,
    )
    def dbt_score_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """Models driven by the churn scores: at-risk accounts, renewal forecasts, dashboards."""
        yield from run_dbt_build(context, dbt)

    return dbt_score_models


dbt_score_models = build_score_models()

defs = dg.Definitions(
    assets=[assets for assets in (dbt_event_models, dbt_core_models, dbt_score_models) if assets is not None],
    resources={"dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)},
)
