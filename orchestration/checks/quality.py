"""Great Expectations suites as Dagster asset checks: two checks per validated asset.

`quality_errors` is blocking: when an error-severity expectation fails, the check fails with
severity ERROR and no asset downstream of the checked one runs in that run (dbt models and ML
assets included). `quality_warnings` fails with severity WARN and lets the run go on. Both checks
of an asset come from one validation, so each table is read once per run.

raw.events grows by a day's files per partitioned run, so in a run over partitions its checks
validate only the rows loaded in that run, and pass without validating anything when the run
loaded none. A run without partitions (the default `csw run`) validates the whole table.

The checks of every other table reuse the result of an earlier run when neither the suite nor the
content of a table it reads has changed since (data_quality.reuse), so a daily run does not validate
the CRM and billing tables again when their files are unchanged.
"""

import datetime as dt
import functools
from collections.abc import Iterator

import dagster as dg

from cs_warehouse.config import load_settings
from cs_warehouse.contract import EVENTS
from cs_warehouse.text import counted
from data_quality import ml_suites
from data_quality.outcomes import SuiteOutcome, describe
from data_quality.results_table import RESULTS_TABLE
from data_quality.runner import SuiteBuilder, run_suite_on
from data_quality.scope import RowScope, loaded_in_run
from data_quality.suites import build_raw_suite, raw_table_names, referenced_tables
from data_quality.validation import NO_ENGINE
from orchestration.partitions import partition_range_of_run
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

ERRORS_CHECK = "quality_errors"
WARNINGS_CHECK = "quality_warnings"
SEVERITIES = {
    ERRORS_CHECK: ("error", dg.AssetCheckSeverity.ERROR),
    WARNINGS_CHECK: ("warning", dg.AssetCheckSeverity.WARN),
}
# Raw tables whose checks validate only the rows of the run's load in a partitioned run.
# NOTE: such a check tests key uniqueness among the new rows only. Ingestion deduplicates against
# earlier loads, and a run without partitions checks the whole table.
INCREMENTAL_TABLES = frozenset({EVENTS.table})
FEATURES_KEY = dg.AssetKey(["ml_features", "churn_features"])
SCORES_KEY = dg.AssetKey(["ml", "churn_scores"])


def check_result(
    outcome: SuiteOutcome, asset_key: dg.AssetKey, check_name: str, partitions: str | None = None
) -> dg.AssetCheckResult:
    """Turn the failures of one severity into a check result whose metadata names each failure and the rows read."""
    severity_name, severity = SEVERITIES[check_name]
    failures = outcome.failures(severity_name)
    checked = [o for o in outcome.outcomes if o.severity == severity_name]
    metadata: dict[str, dg.RawMetadataValue] = {
        "suite": outcome.suite,
        "validated_rows": outcome.scope,
        "engine": outcome.engine,
        "row_count": outcome.row_count,
        "expectations_checked": len(checked),
        "expectations_failed": len(failures),
        "results_table": RESULTS_TABLE,
    }
    if partitions is not None:
        metadata["partitions"] = partitions
    if outcome.reused_from is not None:
        metadata["reused_validation_of_run"] = outcome.reused_from
    if failures:
        metadata["failed_expectations"] = dg.MetadataValue.md(
            "\n".join(f"- {describe(o)}; sample: `{o.sample}`" for o in failures)
        )
        metadata["failures"] = dg.MetadataValue.json(
            [
                {
                    "expectation_type": o.expectation_type,
                    "column": o.column,
                    "observed_value": o.observed_value,
                    "unexpected_count": o.unexpected_count,
                    "unexpected_percent": o.unexpected_percent,
                    "sample": o.sample,
                    "exception": o.exception,
                }
                for o in failures
            ]
        )
        first = failures[0]
        metadata["first_failure"] = describe(first)
        metadata["observed_value"] = dg.MetadataValue.json(
            {"value": first.observed_value, "unexpected_count": first.unexpected_count}
        )
    description = f"{len(failures)} of {len(checked)} {severity_name}-severity expectations failed"
    if not outcome.outcomes:
        description = f"nothing validated: this run loaded no rows into {outcome.table}"
        metadata["nothing_validated"] = description
    elif outcome.reused_from is not None:
        description += f" (result of run {outcome.reused_from}: suite and tables unchanged since)"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not failures,
        severity=severity,
        metadata=metadata,
        description=description,
    )


def partitions_of_run(tags: dict[str, str]) -> str | None:
    """Return the partition or partition range a run covers, from its tags; None for a run without partitions."""
    key_range = partition_range_of_run(tags)
    if key_range is None:
        return None
    start, end = key_range
    return start if start == end else f"{start}...{end}"


def run_start_time(context: dg.AssetCheckExecutionContext) -> dt.datetime:
    """Return when this run started (UTC), so every load of the run wrote a later `_loaded_at`.

    A re-execution (say, from the failed check) takes the start of the original run, whose load it
    may skip, so the check validates the rows that load inserted instead of finding none.
    """
    run_id = context.run.root_run_id or context.run.run_id
    record = context.instance.get_run_record_by_id(run_id)
    if record is None:
        raise RuntimeError(f"Dagster has no record of run {run_id}, the run (or original run) executing this check")
    if record.start_time is not None:
        return dt.datetime.fromtimestamp(record.start_time, dt.UTC)
    # A run record has a start time once the run starts; its creation time is earlier still.
    return record.create_timestamp.astimezone(dt.UTC)


def validation_scope(context: dg.AssetCheckExecutionContext, incremental: bool) -> RowScope:
    """Return the rows to validate: this run's loads for an incremental table in a partitioned run, else all."""
    if not incremental or partitions_of_run(context.run.tags) is None:
        return RowScope()
    return loaded_in_run(run_start_time(context))


def quality_check(
    name: str,
    asset_key: dg.AssetKey,
    build_suite: SuiteBuilder,
    description: str,
    additional_deps: list[dg.AssetKey] | None = None,
    incremental: bool = False,
) -> dg.AssetChecksDefinition:
    """Define the blocking error check and the warning check of one asset, run by one validation.

    With `incremental`, a run over partitions validates only the rows loaded in the run.
    """
    deps = additional_deps or []

    @dg.multi_asset_check(
        name=name,
        description=description,
        pool=WAREHOUSE_POOL,
        specs=[
            dg.AssetCheckSpec(ERRORS_CHECK, asset=asset_key, blocking=True, additional_deps=deps,
                              description=f"Error-severity expectations of {description}; blocks downstream."),
            dg.AssetCheckSpec(WARNINGS_CHECK, asset=asset_key, additional_deps=deps,
                              description=f"Warning-severity expectations of {description}."),
        ],
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        scope = validation_scope(context, incremental)
        with warehouse.get_connection() as con:
            outcome = run_suite_on(
                con, load_settings().data_docs, build_suite, context.run.run_id, scope=scope, reuse=not incremental
            )
        if outcome.engine == NO_ENGINE:
            engine_text = "nothing to validate"
        else:
            engine_text = f"{outcome.engine} engine"
        if outcome.reused_from is not None:
            engine_text += f", result of run {outcome.reused_from} reused: suite and tables unchanged"
        context.log.info(
            f"validated {outcome.table} ({outcome.scope}): {counted(outcome.row_count, 'row')} ({engine_text}), "
            f"{counted(len(outcome.failures('error')), 'error')} and "
            f"{counted(len(outcome.failures('warning')), 'warning')}"
        )
        partitions = partitions_of_run(context.run.tags)
        for check_name in (ERRORS_CHECK, WARNINGS_CHECK):
            yield check_result(outcome, asset_key, check_name, partitions)

    return _check


def raw_table_check(table: str) -> dg.AssetChecksDefinition:
    return quality_check(
        name=f"quality_raw_{table}",
        asset_key=dg.AssetKey(["raw", table]),
        build_suite=functools.partial(build_raw_suite, table=table),
        description=f"raw.{table}",
        additional_deps=[dg.AssetKey(["raw", parent]) for parent in referenced_tables(table)],
        incremental=table in INCREMENTAL_TABLES,
    )


RAW_CHECKS = [raw_table_check(table) for table in raw_table_names()]
FEATURES_CHECK = quality_check(
    "quality_ml_features_churn_features", FEATURES_KEY, ml_suites.build_features_suite, "ml_features.churn_features"
)
SCORES_CHECK = quality_check("quality_ml_churn_scores", SCORES_KEY, ml_suites.build_scores_suite, "ml.churn_scores")

defs = dg.Definitions(asset_checks=[*RAW_CHECKS, FEATURES_CHECK, SCORES_CHECK])
