"""Reuse of a whole-table validation when nothing it read has changed since it ran.

A daily run loads new event files and usually leaves the CRM and billing tables as they were.
Validating those tables again gives the same result, at about a second each. So each whole-table
validation records a fingerprint, a SHA-256 of the suite and of the content of every table it reads.
The suite part is each expectation's type, arguments, severity and meta, plus the derived and index
columns. The tables are the validated one and those its references read. A table's content is its
column names and types, its row count and the sum of a 64-bit hash of each row. So any insert,
delete or update changes it, whether ingestion or a person made it, unless two hash sums collide.

The fingerprint also covers the source of this package and the versions of Great Expectations and
DuckDB, which evaluate the expectations.

When a later validation of the same suite finds the same fingerprint, it takes the stored outcome
of that validation instead of evaluating the suite: the same expectations on the same rows give the
same results. The check's metadata names the run whose validation it reused. Deleting a suite's
rows from `data_quality.validation_fingerprints` makes its next run validate again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from pathlib import Path

import duckdb
import great_expectations as gx

from data_quality.outcomes import SuiteOutcome
from data_quality.results_table import RESULTS_SCHEMA, RESULTS_TABLE, read_outcomes
from data_quality.suites import Suite

FINGERPRINTS_TABLE = f"{RESULTS_SCHEMA}.validation_fingerprints"

CREATE_FINGERPRINTS_SQL = f"""
create table if not exists {FINGERPRINTS_TABLE} (
    suite varchar not null,
    fingerprint varchar not null,
    run_id varchar not null,
    validated_by_run varchar not null,
    engine varchar not null,
    row_count bigint not null,
    expectation_count bigint not null,
    validated_at timestamp not null
)
"""


def _table_content(con: duckdb.DuckDBPyConnection, table: str) -> list[object]:
    columns = con.execute(f"select column_name, column_type from (describe {table})").fetchall()
    # hash(*columns(*)) hashes each row's values together; no table alias, which a column could shadow.
    count, row_hash_sum = con.execute(f"select count(*), sum(hash(*columns(*))::hugeint) from {table}").fetchone()
    return [[list(column) for column in columns], count, str(row_hash_sum)]


@functools.cache
def _validation_code_version() -> str:
    """Return a digest of the validation code and of the libraries that evaluate the expectations.

    A change in how an expectation is evaluated can change its result on the same rows.
    """
    digest = hashlib.sha256(f"great_expectations {gx.__version__}, duckdb {duckdb.__version__}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def validation_fingerprint(con: duckdb.DuckDBPyConnection, suite: Suite, pandas_max_rows: int) -> str:
    """Return the fingerprint of the suite, the validation code and the content of every table it reads."""
    state = {
        "code": _validation_code_version(),
        "expectations": [e.configuration.to_json_dict() for e in suite.suite.expectations],
        "derived_columns": suite.derived_columns,
        "index_columns": list(suite.index_columns),
        "pandas_max_rows": pandas_max_rows,
        "tables": {table: _table_content(con, table) for table in (suite.table, *suite.reads)},
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def find_reusable(
    con: duckdb.DuckDBPyConnection, suite: Suite, fingerprint: str, run_id: str
) -> tuple[SuiteOutcome, str] | None:
    """Return the stored outcome of the latest validation with this fingerprint, as an outcome of `run_id`.

    The second value is the run that evaluated the suite (a run that reused a result names the run it
    reused). None when no validation has the fingerprint, or when some of its rows are gone from the
    results table.
    """
    if not _tables_exist(con):
        return None
    found = con.execute(
        f"""
        select run_id, validated_by_run, engine, row_count, expectation_count
        from {FINGERPRINTS_TABLE}
        where suite = ? and fingerprint = ?
        order by validated_at desc
        limit 1
        """,
        [suite.name, fingerprint],
    ).fetchone()
    if found is None:
        return None
    rows_of_run, validated_by, engine, row_count, expectation_count = found
    outcomes = read_outcomes(con, rows_of_run, suite.name)
    # Rows deleted from the results table since then would drop failures from the reused outcome.
    if len(outcomes) != expectation_count:
        return None
    outcome = SuiteOutcome(
        suite=suite.name,
        table=suite.table,
        asset_key=suite.asset_key,
        run_id=run_id,
        # The results table stamps each run's rows with the time of that run's check.
        validated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        engine=engine,
        row_count=row_count,
        outcomes=outcomes,
    )
    return outcome, validated_by


def _tables_exist(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name in (?, ?)",
        [RESULTS_SCHEMA, FINGERPRINTS_TABLE.split(".")[1], RESULTS_TABLE.split(".")[1]],
    ).fetchone()
    return found[0] == 2


def record_fingerprint(con: duckdb.DuckDBPyConnection, outcome: SuiteOutcome, fingerprint: str) -> None:
    """Record that the rows `outcome` wrote to the results table are the results for this fingerprint.

    A suite validated again in the same run has replaced that run's rows in the results table, so an
    earlier fingerprint of the run and suite no longer describes them and is deleted.
    """
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    con.execute(CREATE_FINGERPRINTS_SQL)
    con.execute(f"delete from {FINGERPRINTS_TABLE} where suite = ? and run_id = ?", [outcome.suite, outcome.run_id])
    con.execute(
        f"insert into {FINGERPRINTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [outcome.suite, fingerprint, outcome.run_id, outcome.reused_from or outcome.run_id, outcome.engine,
         outcome.row_count, len(outcome.outcomes), outcome.validated_at],
    )

