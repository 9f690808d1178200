"""Raw ingestion assets: one per landing entity, its child tables materialized with it.

Each asset loads the entity's landing files into raw.<table> (see cs_warehouse.ingest) and reports
the counts of the load as materialization metadata. raw.events is partitioned by day
(orchestration.partitions): a run loads the event files dated in its partition range.
"""

import dagster as dg

from cs_warehouse.contract import ENTITIES, EVENTS, Entity
from cs_warehouse.ingest import LoadReport, load_entity
from cs_warehouse.text import counted
from orchestration.partitions import EVENT_BACKFILL_POLICY, EVENT_DAYS, event_window
from orchestration.resources import WAREHOUSE_POOL, LandingResource, WarehouseResource, default_resources

GROUP_NAME = "raw"


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


def _files_markdown(report: LoadReport) -> str:
    header = "| file | read | loaded | rejected | duplicates | unknown fields |\n|---|---|---|---|---|---|"
    rows = [
        f"| {f.path} | {f.rows_read} | {f.rows_loaded} | {f.rows_rejected} | {f.duplicates_dropped} | "
        f"{', '.join(f.unknown_fields) or '-'} |"
        for f in report.files
    ]
    return "\n".join([header, *rows]) if rows else "No file was read in this run."


def report_metadata(report: LoadReport) -> dict[str, object]:
    """Materialization metadata of the entity's own table: this run's counts and the table's size after it."""
    return {
        "status": report.status,
        "files_read": len(report.files),
        "files_unchanged": report.unchanged_files,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
        "duplicates_dropped": report.duplicates_dropped,
        "unknown_fields": dg.MetadataValue.json(report.unknown_fields),
        "files": dg.MetadataValue.md(_files_markdown(report)),
        "table_rows": report.table_rows[report.table],
        "rejected_rows_in_table": report.rejected_rows[report.table],
        "dagster/row_count": report.table_rows[report.table],
    }


def child_metadata(report: LoadReport, table: str) -> dict[str, object]:
    child = next((c for c in report.children if c.table == table), None)
    return {
        "status": report.status,
        "rows_loaded": child.rows_loaded if child else 0,
        "rows_rejected": child.rows_rejected if child else 0,
        "duplicates_dropped": child.duplicates_dropped if child else 0,
        "unknown_fields": dg.MetadataValue.json(child.unknown_fields if child else {}),
        "table_rows": report.table_rows[table],
        "rejected_rows_in_table": report.rejected_rows[table],
        "dagster/row_count": report.table_rows[table],
    }


def build_raw_asset(entity: Entity) -> dg.AssetsDefinition:
    """Build the asset that loads one entity, with one output per raw table (the entity's, then its children's)."""
    specs = [
        dg.AssetSpec(
            raw_asset_key(entity.table),
            group_name=GROUP_NAME,
            kinds={"duckdb"},
            description=entity.description,
            metadata={"landing_patterns": ", ".join(entity.patterns)},
        ),
        *(
            dg.AssetSpec(
                raw_asset_key(child.table),
                group_name=GROUP_NAME,
                kinds={"duckdb"},
                description=child.description,
                metadata={"unnested_from": f"{entity.table}.{child.array_path}"},
            )
            for child in entity.children
        ),
    ]

    is_events = entity is EVENTS

    @dg.multi_asset(
        name=f"raw_{entity.table}",
        specs=specs,
        pool=WAREHOUSE_POOL,
        partitions_def=EVENT_DAYS if is_events else None,
        backfill_policy=EVENT_BACKFILL_POLICY if is_events else None,
    )
    def load_raw_entity(context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource):
        landing_dir = landing.folder
        window = event_window(context) if is_events else None
        scope = f" ({window.describe()})" if window is not None and not window.is_open else ""
        context.log.info(f"loading raw.{entity.table} from {landing_dir}{scope} into {warehouse.database}")
        with warehouse.get_connection() as con:
            report = load_entity(con, entity, landing_dir, log=context.log.info, warn=context.log.warning, window=window)
        context.log.info(
            f"raw.{entity.table}: {report.status}; read {report.rows_read}, loaded {report.rows_loaded}, "
            f"rejected {report.rows_rejected}, duplicates {report.duplicates_dropped}; "
            f"{counted(report.table_rows[entity.table], 'row')} in the table"
        )
        yield dg.MaterializeResult(asset_key=raw_asset_key(entity.table), metadata=report_metadata(report))
        for child in entity.children:
            yield dg.MaterializeResult(asset_key=raw_asset_key(child.table), metadata=child_metadata(report, child.table))

    return load_raw_entity


RAW_ASSETS = [build_raw_asset(entity) for entity in ENTITIES]

defs = dg.Definitions(
    assets=RAW_ASSETS,
    resources=default_resources(),
    executor=dg.in_process_executor,
)
