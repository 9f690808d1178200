"""Quality checks in real Dagster runs: error-severity failures block downstream assets, warnings do not,
and a check whose suite and tables are unchanged reuses the result of the run that validated them."""

import json

import dagster as dg
import duckdb
import pytest

from cs_warehouse.config import DATA_DOCS_ENV, WAREHOUSE_ENV, load_settings
from cs_warehouse.raw_schema import create_raw_schema
from data_quality.results_table import RESULTS_TABLE
from orchestration.checks.quality import ERRORS_CHECK, WARNINGS_CHECK, raw_table_check
from orchestration.resources import WAREHOUSE_RESOURCE_KEY, WarehouseResource

LOAD = "'landing.csv', 2, timestamp '2024-07-01 00:00:00', null"
CSM_ROWS = [f"('c1', 'Ann', 'east', {LOAD})"]
GOOD_ACCOUNTS = [
    f"('a1', 'Acme', 'saas', 5, 'DE', 'c1', timestamp '2024-01-01', {LOAD})",
    f"('a2', 'Beta', 'retail', 7, 'FR', 'c1', timestamp '2024-03-01', {LOAD})",
]
CUSTOMER_ROWS = [f"('cus_1', 'a1', 'x@acme.test', 'Acme', 'usd', false, timestamp '2024-01-02', {LOAD})"]
DOWNSTREAM_KEYS = [dg.AssetKey(["staging", "stg_crm__accounts"]), dg.AssetKey(["ml", "churn_features_snapshot"])]


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv(WAREHOUSE_ENV, str(path))
    monkeypatch.setenv(DATA_DOCS_ENV, str(tmp_path / "data_docs"))
    with duckdb.connect(str(path)) as con:
        create_raw_schema(con)
    return path


def raw_asset(table: str, rows: list[str]) -> dg.AssetsDefinition:
    """Build an asset that replaces raw.<table> with `rows`, as ingestion would load them."""

    @dg.asset(key=["raw", table])
    def _load() -> None:
        with duckdb.connect(str(load_settings().warehouse)) as con:
            con.execute(f"delete from raw.{table}")
            con.execute(f"insert into raw.{table} values {', '.join(rows)}")

    return _load


@dg.asset(key=DOWNSTREAM_KEYS[0], deps=[dg.AssetKey(["raw", "crm_accounts"])])
def staged_accounts() -> None:
    """Stand-in for the dbt staging model that reads raw.crm_accounts."""


@dg.asset(key=DOWNSTREAM_KEYS[1], deps=[DOWNSTREAM_KEYS[0], dg.AssetKey(["raw", "billing_customers"])])
def feature_snapshot() -> None:
    """Stand-in for the ML feature snapshot further downstream."""


def run_pipeline(account_rows: list[str], csm_rows: list[str] = CSM_ROWS) -> dg.ExecuteInProcessResult:
    assets = [
        raw_asset("crm_csms", csm_rows),
        raw_asset("crm_accounts", account_rows),
        raw_asset("billing_customers", CUSTOMER_ROWS),
        staged_accounts,
        feature_snapshot,
    ]
    checks = [raw_table_check(t) for t in ("crm_csms", "crm_accounts", "billing_customers")]
    return dg.materialize([*assets, *checks], resources={WAREHOUSE_RESOURCE_KEY: WarehouseResource()},
                          raise_on_error=False)


def evaluation(result: dg.ExecuteInProcessResult, table: str, check_name: str) -> dg.AssetCheckEvaluation:
    matches = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey(["raw", table]) and e.check_name == check_name
    ]
    assert len(matches) == 1
    return matches[0]


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {event.asset_key for event in result.get_asset_materialization_events()}


def test_error_check_blocks_downstream(warehouse):
    duplicate = f"('a2', 'Beta again', 'retail', 9, 'FR', 'c1', timestamp '2024-03-02', {LOAD})"

    result = run_pipeline([*GOOD_ACCOUNTS, duplicate])

    errors = evaluation(result, "crm_accounts", ERRORS_CHECK)
    assert not errors.passed
    assert errors.severity == dg.AssetCheckSeverity.ERROR
    failures = errors.metadata["failures"].value
    assert [(f["expectation_type"], f["column"]) for f in failures] == [
        ("expect_column_values_to_be_unique", "account_id")
    ]
    assert errors.metadata["observed_value"].value == {"value": None, "unexpected_count": 2}
    assert [row["account_id"] for row in failures[0]["sample"]] == ["a2", "a2"]
    assert not result.success
    assert dg.AssetKey(["raw", "crm_accounts"]) in materialized(result)
    for key in DOWNSTREAM_KEYS:
        assert key not in materialized(result), key


def test_warning_check_lets_run_finish(warehouse):
    orphan_owner = f"('a3', 'Gamma', 'saas', 3, 'IT', 'c404', timestamp '2024-04-01', {LOAD})"

    result = run_pipeline([*GOOD_ACCOUNTS, orphan_owner])

    assert result.success
    assert evaluation(result, "crm_accounts", ERRORS_CHECK).passed
    warnings = evaluation(result, "crm_accounts", WARNINGS_CHECK)
    assert not warnings.passed
    assert warnings.severity == dg.AssetCheckSeverity.WARN
    assert "owner_csm_id" in warnings.metadata["first_failure"].value
    assert set(DOWNSTREAM_KEYS) <= materialized(result)
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute(
            f"select expectation_type, column_name, severity, unexpected_count, failing_sample from {RESULTS_TABLE} "
            "where run_id = ? and not success",
            [result.run_id],
        ).fetchall()
    assert [row[:4] for row in rows] == [("expect_column_values_to_be_in_set", "owner_csm_id", "warning", 1)]
    assert json.loads(rows[0][4]) == [{"account_id": "a3", "owner_csm_id": "c404"}]


def test_clean_run_passes_all_checks(warehouse):
    result = run_pipeline(GOOD_ACCOUNTS)

    assert result.success
    failed = [(e.asset_key, e.check_name) for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []


def stored_results(warehouse, run_id: str, suite: str) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as con:
        return con.execute(
            f"select expectation_type, column_name, kwargs, severity, success, observed_value, unexpected_count, "
            f"failing_sample from {RESULTS_TABLE} where run_id = ? and suite = ? order by rowid",
            [run_id, suite],
        ).fetchall()


def test_unchanged_tables_reuse_the_earlier_result(warehouse):
    duplicate = f"('a2', 'Beta again', 'retail', 9, 'FR', 'c1', timestamp '2024-03-02', {LOAD})"
    first = run_pipeline([*GOOD_ACCOUNTS, duplicate])
    # The raw assets delete and insert the same rows again: the content is the same.
    second = run_pipeline([*GOOD_ACCOUNTS, duplicate])

    # billing_customers refers to raw.crm_accounts, so its check is blocked in both runs.
    for table in ("crm_csms", "crm_accounts"):
        for check_name in (ERRORS_CHECK, WARNINGS_CHECK):
            assert "reused_validation_of_run" not in evaluation(first, table, check_name).metadata
            reused = evaluation(second, table, check_name)
            assert reused.metadata["reused_validation_of_run"].value == first.run_id, (table, check_name)
            assert reused.passed == evaluation(first, table, check_name).passed
    # The reused failure still blocks downstream and names the same rows.
    errors = evaluation(second, "crm_accounts", ERRORS_CHECK)
    assert not errors.passed
    assert [row["account_id"] for row in errors.metadata["failures"].value[0]["sample"]] == ["a2", "a2"]
    assert DOWNSTREAM_KEYS[0] not in materialized(second)
    # The second run has its own rows in the results table, with the first run's values.
    assert stored_results(warehouse, second.run_id, "raw.crm_accounts") == stored_results(
        warehouse, first.run_id, "raw.crm_accounts"
    )
    assert len(stored_results(warehouse, second.run_id, "raw.crm_accounts")) == 26


def test_changed_value_is_validated_again(warehouse):
    first = run_pipeline(GOOD_ACCOUNTS)
    # Same row count and the same _loaded_at: only one value differs.
    duplicate_name = GOOD_ACCOUNTS[1].replace("'a2', 'Beta'", "'a1', 'Beta'")
    second = run_pipeline([GOOD_ACCOUNTS[0], duplicate_name])

    assert evaluation(first, "crm_accounts", ERRORS_CHECK).passed
    errors = evaluation(second, "crm_accounts", ERRORS_CHECK)
    assert "reused_validation_of_run" not in errors.metadata
    assert not errors.passed
    assert evaluation(second, "crm_csms", ERRORS_CHECK).metadata["reused_validation_of_run"].value == first.run_id


def test_change_in_a_referenced_table_is_validated_again(warehouse):
    orphan_owner = f"('a3', 'Gamma', 'saas', 3, 'IT', 'c404', timestamp '2024-04-01', {LOAD})"
    first = run_pipeline([*GOOD_ACCOUNTS, orphan_owner])
    # raw.crm_accounts is unchanged; the CSM it referred to now exists in raw.crm_csms.
    second = run_pipeline([*GOOD_ACCOUNTS, orphan_owner], [*CSM_ROWS, f"('c404', 'Bo', 'west', {LOAD})"])

    assert not evaluation(first, "crm_accounts", WARNINGS_CHECK).passed
    warnings = evaluation(second, "crm_accounts", WARNINGS_CHECK)
    assert "reused_validation_of_run" not in warnings.metadata
    assert warnings.passed
