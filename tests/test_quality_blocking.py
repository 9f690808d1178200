"""A broken raw table stops the real pipeline: no dbt model and no ML asset runs after its failed check."""

import json
import shutil

import dagster as dg
import pytest

from cs_warehouse.config import DATA_DOCS_ENV, LANDING_DIR_ENV, MODEL_STORE_ENV, WAREHOUSE_ENV
from orchestration.checks.quality import ERRORS_CHECK

ORPHAN_ACCOUNT = "acc_not_in_crm"
ORPHAN_CUSTOMER = {
    "id": "cus_orphan0000001",
    "object": "customer",
    "created": 1712125640,
    "currency": "usd",
    "delinquent": False,
    "email": "billing@orphan.example.com",
    "metadata": {"account_id": ORPHAN_ACCOUNT},
    "name": "Orphan Ltd",
}
ML_KEYS = [
    dg.AssetKey(["ml", "churn_features_snapshot"]),
    dg.AssetKey(["ml", "churn_model"]),
    dg.AssetKey(["ml", "backtest_results"]),
    dg.AssetKey(["ml", "churn_scores"]),
]
DBT_SCHEMAS = ("staging", "intermediate", "marts", "dashboards", "ml_features")


@pytest.fixture
def broken_landing(small_landing, tmp_path):
    """The small simulated landing folder plus one billing customer whose CRM account does not exist."""
    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    customers = sorted((landing / "billing").glob("customers*.jsonl"))[0]
    with customers.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(ORPHAN_CUSTOMER) + "\n")
    return landing


def test_error_check_blocks_dbt_and_ml(broken_landing, tmp_path, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv(LANDING_DIR_ENV, str(broken_landing))
    monkeypatch.setenv(DATA_DOCS_ENV, str(tmp_path / "data_docs"))
    monkeypatch.setenv(MODEL_STORE_ENV, str(tmp_path / "model_store"))
    from orchestration.definitions import defs

    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)

    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()
    }
    errors = evaluations[("raw/billing_customers", ERRORS_CHECK)]
    assert not errors.passed
    assert errors.severity == dg.AssetCheckSeverity.ERROR
    failures = errors.metadata["failures"].value
    assert [(f["expectation_type"], f["column"]) for f in failures] == [
        ("expect_column_values_to_be_in_set", "account_id")
    ]
    assert failures[0]["unexpected_count"] == 1
    assert failures[0]["sample"] == [{"customer_id": "cus_orphan0000001", "account_id": ORPHAN_ACCOUNT}]

    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["raw", "billing_customers"]) in materialized
    assert dg.AssetKey(["raw", "crm_accounts"]) in materialized
    dbt_materialized = [key for key in materialized if key.path[0] in DBT_SCHEMAS]
    assert dbt_materialized == []
    for key in ML_KEYS:
        assert key not in materialized, key

    failed_steps = set(result.get_failed_step_keys())
    assert failed_steps == {"quality_raw_billing_customers"}
    # Dagster abandons a step whose blocking upstream check failed: it never starts.
    started_steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "dbt_core_models" in {node.name for node in result.job_def.nodes}
    assert "dbt_core_models" not in started_steps
    assert "quality_raw_billing_customers" in started_steps
