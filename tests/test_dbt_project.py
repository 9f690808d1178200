"""Project-wide rules for the dbt project: SQL style (sqlfluff), the YAML every model must have, and a build
of the whole project on a help-desk-only warehouse with non-default vars.

Every model needs YAML with a description that starts with its grain ("One row per ..."), a
primary key tested unique and not_null (or with unique_combination_of_columns), and a
description for every column the model outputs. The column check reads the real columns of the
models built by `built_project`.

`built_project` runs `dbt build` once on a warehouse that contains only CRM accounts and tickets,
as the help desk import writes them, plus an empty ml.churn_scores table. So every model (the
score-driven ones too), every data test and every unit test runs. The build sets reporting_currency
gbp and reporting_timezone Asia/Tokyo, so the unit tests must pin the vars they depend on.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cs_warehouse.config import DBT_PROJECT_DIR, WAREHOUSE_ENV
from cs_warehouse.raw_schema import create_raw_schema

BIN_DIR = Path(sys.executable).parent
DBT = str(BIN_DIR / "dbt")
SQLFLUFF = str(BIN_DIR / "sqlfluff")
LINTED_FOLDERS = ("models", "tests", "analyses")
GRAIN_PREFIX = "One row per"
# Not the defaults of dbt_project.yml, so a unit test that relies on a default instead of pinning it
# in `overrides: vars:` fails here.
BUILD_VARS = {"reporting_currency": "gbp", "reporting_timezone": "Asia/Tokyo"}
# DuckDB's 128-bit integer types, which have no pandas integer dtype.
WIDE_INTEGER_TYPES = ("HUGEINT", "UHUGEINT")

# Two accounts and three tickets, the tables the help desk import fills. The latest ticket opens at
# 23:30 UTC on 14 March 2024, which is 08:30 on 15 March in Tokyo: the as-of date.
HELP_DESK_ACCOUNTS = [
    ("acc_1", "Acme", datetime(2024, 1, 2, 9)),
    ("acc_2", "Globex", datetime(2024, 2, 1, 10)),
]
HELP_DESK_TICKETS = [
    ("t1", "acc_1", datetime(2024, 1, 2, 9), datetime(2024, 1, 2, 10), datetime(2024, 1, 3, 10), "normal", "closed"),
    ("t2", "acc_2", datetime(2024, 2, 1, 10), None, None, "high", "open"),
    ("t3", "acc_1", datetime(2024, 3, 14, 23, 30), datetime(2024, 3, 15, 8), None, "low", "pending"),
]
HELP_DESK_AS_OF_DATE = date(2024, 3, 15)

# The scores table the ML scoring asset writes (columns of the shared churn_scores interface).
CHURN_SCORES_DDL = """
create table ml.churn_scores (
    account_id varchar, as_of_date date, model_version varchar, churn_probability double, risk_tier varchar,
    driver_1 varchar, driver_1_contribution double, driver_2 varchar, driver_2_contribution double,
    driver_3 varchar, driver_3_contribution double, scored_at timestamp
)
"""


@dataclass(frozen=True)
class ProjectBuild:
    manifest: dict[str, Any]
    warehouse: Path
    returncode: int
    dbt_output: str


def run_dbt(
    args: list[str], warehouse: Path, work_dir: Path, extra_environment: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        DBT, *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]
    environment = {**os.environ, WAREHOUSE_ENV: str(warehouse), **(extra_environment or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)


def write_help_desk_warehouse(warehouse: Path) -> None:
    """Create the raw schema with only accounts and tickets, and an empty ml.churn_scores."""
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
        con.executemany(
            "insert into raw.crm_accounts (account_id, name, created_at) values (?, ?, ?)", HELP_DESK_ACCOUNTS
        )
        con.executemany(
            "insert into raw.crm_tickets (ticket_id, account_id, created_at, first_response_at, resolved_at, "
            "priority, status) values (?, ?, ?, ?, ?, ?, ?)",
            HELP_DESK_TICKETS,
        )
        con.execute("create schema ml")
        con.execute(CHURN_SCORES_DDL)
    finally:
        con.close()


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> ProjectBuild:
    """Run `dbt build` of the whole project once on the help-desk-only warehouse, with BUILD_VARS."""
    work_dir = tmp_path_factory.mktemp("dbt_project")
    warehouse = work_dir / "warehouse.duckdb"
    write_help_desk_warehouse(warehouse)
    result = run_dbt(["build", "--vars", json.dumps(BUILD_VARS)], warehouse, work_dir)
    manifest = json.loads((work_dir / "target" / "manifest.json").read_text(encoding="utf-8"))
    return ProjectBuild(manifest, warehouse, result.returncode, result.stdout)


def project_models(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == manifest["metadata"]["project_name"]
    ]


def attached_tests_by_model(manifest: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return the generic data tests attached to each model, by the model's unique_id."""
    attached: dict[str, list[dict[str, Any]]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("attached_node") and node.get("test_metadata"):
            attached.setdefault(node["attached_node"], []).append(node)
    return attached


def has_tested_primary_key(tests: list[dict[str, Any]]) -> bool:
    """True when one column is tested unique and not_null, or unique_combination_of_columns is tested."""
    unique_columns = {test["column_name"] for test in tests if test["test_metadata"]["name"] == "unique"}
    not_null_columns = {test["column_name"] for test in tests if test["test_metadata"]["name"] == "not_null"}
    has_combination = any(test["test_metadata"]["name"] == "unique_combination_of_columns" for test in tests)
    return bool(unique_columns & not_null_columns) or has_combination


def model_relation(model: Mapping[str, Any]) -> str:
    return model["alias"] or model["name"]


def relation_columns(warehouse: Path, schema: str, table: str) -> list[tuple[str, str]]:
    """Return (column name, data type) of a built relation in column order, or [] when it does not exist."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
    finally:
        con.close()
    return [(row[0], row[1]) for row in rows]


def test_sqlfluff_lint_passes() -> None:
    folders = [folder for folder in LINTED_FOLDERS if (DBT_PROJECT_DIR / folder).exists()]
    result = subprocess.run(
        [SQLFLUFF, "lint", *folders, "--format", "json", "--processes", "2", "--disable-progress-bar"],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.stdout.strip(), f"sqlfluff printed no report: {result.stderr[-3000:]}"
    violations = [
        f"{file_report['filepath']}:{violation['start_line_no']} {violation['code']} {violation['description']}"
        for file_report in json.loads(result.stdout)
        for violation in file_report["violations"]
    ]
    assert violations == [], "sqlfluff violations (fix them or run `sqlfluff fix` in dbt_project):\n" + "\n".join(
        violations
    )


def test_help_desk_only_warehouse_builds(built_project: ProjectBuild) -> None:
    assert built_project.returncode == 0, built_project.dbt_output[-6000:]
    con = duckdb.connect(str(built_project.warehouse), read_only=True)
    try:
        as_of = con.execute("select as_of_date from intermediate.int_as_of_date").fetchall()
        ticket_accounts = con.execute(
            "select count(distinct account_id) from intermediate.int_cs__account_crm_daily"
        ).fetchone()[0]
    finally:
        con.close()
    assert as_of == [(HELP_DESK_AS_OF_DATE,)]
    assert ticket_accounts == 2


def test_unit_tests_pass_with_other_vars(built_project: ProjectBuild) -> None:
    # `dbt build --select test_type:unit` runs nothing in dbt 1.11 (build runs a unit test only
    # together with its selected model), so the whole build above is what runs them.
    unit_tests = {test["name"] for test in built_project.manifest["unit_tests"].values()}
    passed = set(re.findall(r" PASS \S+::(\S+) ", built_project.dbt_output))
    assert unit_tests, "the manifest lists no unit tests"
    assert sorted(unit_tests - passed) == [], built_project.dbt_output[-6000:]


def test_models_describe_grain(built_project: ProjectBuild) -> None:
    missing = [
        f"{model['original_file_path']}: description must start with '{GRAIN_PREFIX} ...'"
        for model in project_models(built_project.manifest)
        if not model["description"].strip().startswith(GRAIN_PREFIX)
    ]
    assert missing == []


def test_models_have_tested_primary_key(built_project: ProjectBuild) -> None:
    attached = attached_tests_by_model(built_project.manifest)
    missing = [
        f"{model['original_file_path']}: no column tested unique and not_null, and no unique_combination_of_columns"
        for model in project_models(built_project.manifest)
        if not has_tested_primary_key(attached.get(model["unique_id"], []))
    ]
    assert missing == []


def test_model_columns_documented(built_project: ProjectBuild) -> None:
    undocumented = []
    for model in project_models(built_project.manifest):
        relation = relation_columns(built_project.warehouse, model["schema"], model_relation(model))
        columns = [name for name, _ in relation]
        if not columns:
            undocumented.append(f"{model['original_file_path']}: not built, so its columns are unknown")
            continue
        described = {name.lower() for name, column in model["columns"].items() if column["description"].strip()}
        undocumented += [
            f"{model['original_file_path']}: column {column} has no description"
            for column in columns
            if column.lower() not in described
        ]
    assert undocumented == []


def test_no_wide_integer_columns(built_project: ProjectBuild) -> None:
    # DuckDB sums integers into HUGEINT, which DuckDB's .df() returns as float64, so the models cast counts to bigint.
    wide = [
        f"{model['original_file_path']}: column {name} is {data_type}"
        for model in project_models(built_project.manifest)
        for name, data_type in relation_columns(built_project.warehouse, model["schema"], model_relation(model))
        if data_type in WIDE_INTEGER_TYPES
    ]
    assert wide == []


def test_event_window_limits_event_tests(tmp_path: Path) -> None:
    # Two events share a message id on 10 January, which only an unbounded test can see.
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
        con.executemany(
            "insert into raw.events (message_id, event_type, event_name, user_id, account_id, timestamp, "
            "received_at, event_at, is_future_dated) values (?, 'track', 'ev', 'u1', 'a1', ?, ?, ?, false)",
            [("m1", at, at, at) for at in (datetime(2025, 1, 10, 9), datetime(2025, 1, 10, 11))],
        )
    finally:
        con.close()
    unique_test = "unique_stg_product__events_message_id"

    unbounded = run_dbt(["build", "--select", "stg_product__events"], warehouse, tmp_path)
    outside = run_dbt(
        ["test", "--select", "stg_product__events"], warehouse, tmp_path,
        {"CSW_EVENT_WINDOW_START": "2025-03-01", "CSW_EVENT_WINDOW_END": "2025-03-02"},
    )
    # The window starts on 15 January; its 15-day look-back reaches back to 31 December.
    covering = run_dbt(
        ["test", "--select", "stg_product__events"], warehouse, tmp_path,
        {"CSW_EVENT_WINDOW_START": "2025-01-15", "CSW_EVENT_WINDOW_END": "2025-01-16"},
    )

    assert unbounded.returncode == 1
    assert re.search(rf"FAIL 1 {unique_test}", unbounded.stdout), unbounded.stdout
    assert outside.returncode == 0, outside.stdout
    assert covering.returncode == 1
    assert re.search(rf"FAIL 1 {unique_test}", covering.stdout), covering.stdout
