"""The raw assets under real Dagster: materialization metadata, idempotent re-runs, whole reloads on change."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cs_warehouse.raw_schema import raw_tables
from orchestration.assets.raw import RAW_ASSETS, defs, raw_asset_key
from orchestration.resources import LandingResource, WarehouseResource

ACCOUNTS_CSV = """\
account_id,name,industry,employee_count,country,owner_csm_id,created_at,segment
a1,Acme,software,120,US,c1,2024-01-05T10:00:00Z,smb
a2,Beta,retail,40,DE,c1,2024-01-06,smb
a1,Acme again,software,120,US,c1,2024-01-05T10:00:00Z,smb
a3,Gamma,retail,-1,FR,c2,2024-02-01,smb
a4,Delta
"""

SUBSCRIPTION = {
    "id": "sub_1",
    "customer": "cus_1",
    "status": "active",
    "currency": "usd",
    "created": 1704067200,
    "items": {"data": [{"id": "si_1", "price": {"id": "price_1"}, "quantity": 3},
                       {"id": "si_2", "price": {"id": "price_2"}, "quantity": 1}]},
}

EVENTS_JSONL = "\n".join(
    [
        json.dumps({"messageId": "m1", "type": "track", "event": "login", "groupId": "a1",
                    "timestamp": "2024-03-01T10:00:00Z", "receivedAt": "2024-03-01T10:00:01Z"}),
        json.dumps({"messageId": "m1", "type": "track", "event": "login", "groupId": "a1",
                    "timestamp": "2024-03-01T10:00:00Z", "receivedAt": "2024-03-01T10:00:02Z"}),
        "{not json",
    ]
)


def build_landing(root: Path) -> Path:
    (root / "crm").mkdir(parents=True)
    (root / "billing").mkdir()
    (root / "events").mkdir()
    (root / "crm" / "accounts.csv").write_text(ACCOUNTS_CSV)
    (root / "billing" / "subscriptions.jsonl").write_text(json.dumps(SUBSCRIPTION) + "\n")
    (root / "events" / "2024-03-01.jsonl").write_text(EVENTS_JSONL + "\n")
    return root


def resources(landing: Path, warehouse: Path) -> dict:
    return {"warehouse": WarehouseResource(path=str(warehouse)), "landing": LandingResource(path=str(landing))}


def metadata_by_key(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    found = {}
    for materialization_event in result.get_asset_materialization_events():
        materialization = materialization_event.materialization
        found[materialization.asset_key.to_user_string()] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def warehouse_contents(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        contents = {}
        for table in raw_tables():
            for schema in ("raw", "raw_rejects"):
                name = f'{schema}."{table.table}"'
                contents[name] = con.execute(f"select * from {name} order by all").fetchall()
        contents["raw_meta.file_loads"] = con.execute("select * from raw_meta.file_loads order by all").fetchall()
        return contents
    finally:
        con.close()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return build_landing(tmp_path / "landing")


def test_definitions_cover_every_raw_table():
    keys = {key for assets_def in RAW_ASSETS for key in assets_def.keys}
    assert keys == {raw_asset_key(table.table) for table in raw_tables()}
    assert all(defs.resolve_assets_def(key).group_names_by_key[key] == "raw" for key in keys)


def test_materialize_reports_counts(landing, tmp_path):
    result = dg.materialize(RAW_ASSETS, resources=resources(landing, tmp_path / "w.duckdb"))

    assert result.success
    metadata = metadata_by_key(result)
    accounts = metadata["raw/crm_accounts"]
    assert (accounts["rows_read"], accounts["rows_loaded"]) == (5, 2)
    assert (accounts["rows_rejected"], accounts["duplicates_dropped"]) == (2, 1)
    assert accounts["unknown_fields"] == {"segment": 4}
    assert "| crm/accounts.csv | 5 | 2 | 2 | 1 | segment |" in accounts["files"]
    events = metadata["raw/events"]
    assert (events["rows_read"], events["rows_loaded"], events["rows_rejected"], events["duplicates_dropped"]) == (
        3, 1, 1, 1,
    )
    items = metadata["raw/billing_subscription_items"]
    assert (items["rows_loaded"], items["table_rows"]) == (2, 2)
    assert metadata["raw/crm_csms"]["status"] == "no files"


def test_rematerialize_unchanged_changes_nothing(landing, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    dg.materialize(RAW_ASSETS, resources=resources(landing, warehouse))
    first = warehouse_contents(warehouse)

    again = dg.materialize(RAW_ASSETS, resources=resources(landing, warehouse))

    assert again.success
    assert warehouse_contents(warehouse) == first
    assert metadata_by_key(again)["raw/crm_accounts"]["status"] == "unchanged"


def test_changed_export_replaces_entity(landing, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    dg.materialize(RAW_ASSETS, resources=resources(landing, warehouse))

    (landing / "crm" / "accounts.csv").write_text("account_id,name,created_at\na9,Zeta,2024-05-01\n")
    result = dg.materialize(RAW_ASSETS, resources=resources(landing, warehouse))

    assert metadata_by_key(result)["raw/crm_accounts"]["table_rows"] == 1
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select account_id from raw.crm_accounts").fetchall() == [("a9",)]
        assert con.execute("select count(*) from raw_rejects.crm_accounts").fetchone() == (0,)
        current = con.execute(
            "select load_number, rows_loaded from raw_meta.file_loads where table_name = 'crm_accounts' and is_current"
        ).fetchall()
        assert current == [(2, 1)]
    finally:
        con.close()


def test_missing_column_fails_asset_with_message(landing, tmp_path):
    (landing / "crm" / "accounts.csv").write_text("account_id,name\na1,Acme\n")

    result = dg.materialize(RAW_ASSETS, resources=resources(landing, tmp_path / "w.duckdb"), raise_on_error=False)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "raw_crm_accounts"
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert "crm/accounts.csv: required column 'created_at'" in error.message


def test_warehouse_memory_limit_and_spill_folder(tmp_path, monkeypatch):
    database = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CSW_DUCKDB_MEMORY_LIMIT", "512MB")

    with WarehouseResource(path=str(database)).get_connection() as con:
        limit, temp_directory = con.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
    # DuckDB reports 512MB as 488.2 MiB.
    assert limit == "488.2 MiB"
    assert temp_directory == str(database) + ".tmp"

    with WarehouseResource(path=str(database), memory_limit="1GB").get_connection() as con:
        (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
    assert limit == "953.6 MiB"


def test_warehouse_invalid_memory_limit(tmp_path):
    from cs_warehouse.errors import CswError

    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), memory_limit="lots")
    with pytest.raises(CswError, match="invalid DuckDB memory limit 'lots'"):
        with resource.get_connection():
            pass
