"""Dagster definitions of cs-warehouse: ingestion, dbt, data quality and the churn model."""
