"""Lint-time stand-in for dbt's `target` context: the warehouse this project builds on (DuckDB)."""

type = "duckdb"
name = "local"
schema = "main"
database = "cs_warehouse"
