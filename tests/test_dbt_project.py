"""Project-wide rules for the dbt project: SQL style (sqlfluff) and the YAML every model must have.

Every model needs YAML with a description that starts with its grain ("One row per ..."), a
primary key tested unique and not_null (or with unique_combination_of_columns), and a
description for every column the model outputs. The column check builds the models on an empty
raw schema to learn their real columns.
"""

import json
import os
import subprocess
import sys
from collections.abc import Mapping
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
# Models downstream of the churn scores read the ML scoring asset's table, which an empty warehouse
# does not have, so they are not run here.
# NOTE: the column check therefore skips them; only their grain and primary key are checked.
SCORE_MODELS_SELECTION = "source:ml+"


def run_dbt(args: list[str], warehouse: Path, work_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [
        DBT, *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]
    environment = {**os.environ, WAREHOUSE_ENV: str(warehouse)}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """Return the manifest and a warehouse where every model not fed by the scores was run on empty raw tables."""
    work_dir = tmp_path_factory.mktemp("dbt_project")
    warehouse = work_dir / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    create_raw_schema(con)
    con.close()
    result = run_dbt(["run", "--exclude", SCORE_MODELS_SELECTION], warehouse, work_dir)
    assert result.returncode == 0, result.stdout[-6000:]
    manifest = json.loads((work_dir / "target" / "manifest.json").read_text(encoding="utf-8"))
    return manifest, warehouse


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


def relation_columns(warehouse: Path, schema: str, table: str) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


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


def test_models_describe_grain(built_project: tuple[dict[str, Any], Path]) -> None:
    manifest, _ = built_project
    missing = [
        f"{model['original_file_path']}: description must start with '{GRAIN_PREFIX} ...'"
        for model in project_models(manifest)
        if not model["description"].strip().startswith(GRAIN_PREFIX)
    ]
    assert missing == []


def test_models_have_tested_primary_key(built_project: tuple[dict[str, Any], Path]) -> None:
    manifest, _ = built_project
    attached = attached_tests_by_model(manifest)
    missing = [
        f"{model['original_file_path']}: no column tested unique and not_null, and no unique_combination_of_columns"
        for model in project_models(manifest)
        if not has_tested_primary_key(attached.get(model["unique_id"], []))
    ]
    assert missing == []


def test_model_columns_documented(built_project: tuple[dict[str, Any], Path]) -> None:
    manifest, warehouse = built_project
    undocumented = []
    for model in project_models(manifest):
        columns = relation_columns(warehouse, model["schema"], model["alias"] or model["name"])
        if not columns:
            continue  # not run here because it reads the churn scores
        described = {name.lower() for name, column in model["columns"].items() if column["description"].strip()}
        undocumented += [
            f"{model['original_file_path']}: column {column} has no description"
            for column in columns
            if column.lower() not in described
        ]
    assert undocumented == []

