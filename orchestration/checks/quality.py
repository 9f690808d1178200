"""Great Expectations suites as Dagster asset checks: two checks per validated asset.

`quality_errors` is blocking: when an error-severity expectation fails, the check fails with
severity ERROR and no asset downstream of the checked one runs in that run (dbt models and ML
assets included). `quality_warnings` fails with severity WARN and lets the run go on. Both checks
of an asset come from one validation, so each table is read once per run.
"""

import functools
from collections.abc import Iterator

import dagster as dg

from cs_warehouse.config import load_settings
from data_quality import ml_suites
from data_quality.outcomes import SuiteOutcome, describe
from data_quality.results_table import RESULTS_TABLE
from data_quality.runner import SuiteBuilder, run_suite_on
from data_quality.suites import build_raw_suite, raw_table_names, referenced_tables
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

ERRORS_CHECK = "quality_errors"
WARNINGS_CHECK = "quality_warnings"
SEVERITIES = {
    ERRORS_CHECK: ("error", dg.AssetCheckSeverity.ERROR),
    WARNINGS_CHECK: ("warning", dg.AssetCheckSeverity.WARN),
}
FEATURES_KEY = dg.AssetKey(["ml_features", "churn_features"])
SCORES_KEY = dg.AssetKey(["ml", "churn_scores"])


def check_result(outcome: SuiteOutcome, asset_key: dg.AssetKey, check_name: str) -> dg.AssetCheckResult:
    """Turn the failures of one severity into a check result whose metadata names each failure."""
    severity_name, severity = SEVERITIES[check_name]
    failures = outcome.failures(severity_name)
    checked = [o for o in outcome.outcomes if o.severity == severity_name]
    metadata: dict[str, dg.RawMetadataValue] = {
        "suite": outcome.suite,
        "engine": outcome.engine,
        "row_count": outcome.row_count,
        "expectations_checked": len(checked),
        "expectations_failed": len(failures),
        "results_table": RESULTS_TABLE,
    }
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
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not failures,
        severity=severity,
        metadata=metadata,
        description=f"{len(failures)} of {len(checked)} {severity_name}-severity expectations failed",
    )


def quality_check(
    name: str,
    asset_key: dg.AssetKey,
    build_suite: SuiteBuilder,
    description: str,
    additional_deps: list[dg.AssetKey] | None = None,
) -> dg.AssetChecksDefinition:
    """Define the blocking error check and the warning check of one asset, run by one validation."""
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
        with warehouse.get_connection() as con:
            outcome = run_suite_on(con, load_settings().data_docs, build_suite, context.run.run_id)
        context.log.info(
            f"validated {outcome.table}: {outcome.row_count} rows with the {outcome.engine} engine, "
            f"{len(outcome.failures('error'))} errors and {len(outcome.failures('warning'))} warnings"
        )
        for check_name in (ERRORS_CHECK, WARNINGS_CHECK):
            yield check_result(outcome, asset_key, check_name)

    return _check


def raw_table_check(table: str) -> dg.AssetChecksDefinition:
    return quality_check(
        name=f"quality_raw_{table}",
        asset_key=dg.AssetKey(["raw", table]),
        build_suite=functools.partial(build_raw_suite, table=table),
        description=f"raw.{table}",
        additional_deps=[dg.AssetKey(["raw", parent]) for parent in referenced_tables(table)],
    )


RAW_CHECKS = [raw_table_check(table) for table in raw_table_names()]
FEATURES_CHECK = quality_check(
    "quality_ml_features_churn_features", FEATURES_KEY, ml_suites.build_features_suite, "ml_features.churn_features"
)
SCORES_CHECK = quality_check("quality_ml_churn_scores", SCORES_KEY, ml_suites.build_scores_suite, "ml.churn_scores")

defs = dg.Definitions(asset_checks=[*RAW_CHECKS, FEATURES_CHECK, SCORES_CHECK])
