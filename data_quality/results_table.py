"""The warehouse table of validation results: one row per expectation per table per run."""

from __future__ import annotations

import json

import duckdb

from data_quality.outcomes import ExpectationOutcome, SuiteOutcome

RESULTS_SCHEMA = "data_quality"
RESULTS_TABLE = f"{RESULTS_SCHEMA}.validation_results"

CREATE_RESULTS_SQL = f"""
create table if not exists {RESULTS_TABLE} (
    run_id varchar not null,
    suite varchar not null,
    asset_key varchar not null,
    table_name varchar not null,
    engine varchar not null,
    expectation_type varchar not null,
    column_name varchar,
    kwargs varchar,
    severity varchar not null,
    success boolean not null,
    observed_value varchar,
    element_count bigint,
    unexpected_count bigint,
    unexpected_percent double,
    failing_sample varchar,
    exception_message varchar,
    validated_at timestamp not null
)
"""


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def write_outcome(con: duckdb.DuckDBPyConnection, outcome: SuiteOutcome) -> int:
    """Append one row per expectation of `outcome`, replacing rows of the same run and suite; return the count."""
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    con.execute(CREATE_RESULTS_SQL)
    rows = [
        (
            outcome.run_id,
            outcome.suite,
            "/".join(outcome.asset_key),
            outcome.table,
            outcome.engine,
            o.expectation_type,
            o.column,
            _json(o.kwargs),
            o.severity,
            o.success,
            _json(o.observed_value),
            o.element_count,
            o.unexpected_count,
            o.unexpected_percent,
            _json(o.sample) if o.sample else None,
            o.exception,
            outcome.validated_at,
        )
        for o in outcome.outcomes
    ]
    con.execute("begin transaction")
    try:
        # A re-executed check in the same run replaces its earlier rows instead of doubling them.
        con.execute(f"delete from {RESULTS_TABLE} where run_id = ? and suite = ?", [outcome.run_id, outcome.suite])
        if rows:
            con.executemany(f"insert into {RESULTS_TABLE} values ({', '.join(['?'] * 17)})", rows)
        con.execute("commit")
    except duckdb.Error:
        con.execute("rollback")
        raise
    return len(rows)


def _loads(text: str | None) -> object:
    return None if text is None else json.loads(text)


def read_outcomes(con: duckdb.DuckDBPyConnection, run_id: str, suite: str) -> list[ExpectationOutcome]:
    """Return the expectation outcomes that `write_outcome` stored for one run and suite, in stored order."""
    rows = con.execute(
        f"""
        select expectation_type, column_name, kwargs, severity, success, observed_value, element_count,
               unexpected_count, unexpected_percent, failing_sample, exception_message
        from {RESULTS_TABLE}
        where run_id = ? and suite = ?
        order by rowid
        """,
        [run_id, suite],
    ).fetchall()
    return [
        ExpectationOutcome(
            expectation_type=expectation_type,
            column=column,
            kwargs=_loads(kwargs) or {},
            severity=severity,
            success=success,
            observed_value=_loads(observed_value),
            element_count=element_count,
            unexpected_count=unexpected_count,
            unexpected_percent=unexpected_percent,
            sample=_loads(sample) or [],
            exception=exception,
        )
        for (expectation_type, column, kwargs, severity, success, observed_value, element_count,
             unexpected_count, unexpected_percent, sample, exception) in rows
    ]
