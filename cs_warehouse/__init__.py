"""cs-warehouse: a customer-success analytics warehouse on DuckDB, dbt and Dagster."""

__version__ = "0.1.0"
