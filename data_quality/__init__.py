"""Great Expectations suites for the raw tables and the churn model, and the code that runs them on DuckDB."""
