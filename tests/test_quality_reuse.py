"""Reuse of a validation result (data_quality.reuse) on a real DuckDB file, through run_suite_on.

raw.crm_accounts contains two accounts: a1 with a negative employee count (an error) and a2 whose CSM
is not in raw.crm_csms (a warning). Each test changes the stored state in a way that must make the
next check validate again instead of reusing an outdated result.
"""

import functools

import duckdb
import pytest

from cs_warehouse.raw_schema import create_raw_schema
from data_quality.results_table import RESULTS_TABLE
from data_quality.reuse import FINGERPRINTS_TABLE, validation_fingerprint
from data_quality.runner import run_suite_on
from data_quality.suites import build_raw_suite

LOAD = "'landing.csv', 2, timestamp '2024-07-01 00:00:00', null"
BUILD_ACCOUNTS = functools.partial(build_raw_suite, table="crm_accounts")
FAILURES_ON_FIRST_STATE = [("error", "employee_count"), ("warning", "owner_csm_id")]


@pytest.fixture
def warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_raw_schema(con)
    con.execute(f"insert into raw.crm_csms values ('c1', 'Ann', 'east', {LOAD})")
    con.execute(
        f"""
        insert into raw.crm_accounts values
            ('a1', 'Acme', 'saas', -5, 'DE', 'c1', timestamp '2024-01-01', {LOAD}),
            ('a2', 'Beta', 'retail', 7, 'FR', 'c404', timestamp '2024-03-01', {LOAD})
        """
    )
    yield con, tmp_path / "data_docs"
    con.close()


def failures(outcome) -> list[tuple[str, str]]:
    return sorted((o.severity, o.column) for o in outcome.outcomes if not o.success)


def test_unchanged_table_reuses_result(warehouse):
    con, docs = warehouse
    first = run_suite_on(con, docs, BUILD_ACCOUNTS, "r1", reuse=True)
    second = run_suite_on(con, docs, BUILD_ACCOUNTS, "r2", reuse=True)
    third = run_suite_on(con, docs, BUILD_ACCOUNTS, "r3", reuse=True)

    assert first.reused_from is None
    assert second.reused_from == "r1"
    # r3 takes r2's copy of the rows but names the run that evaluated the suite.
    assert third.reused_from == "r1"
    assert failures(third) == FAILURES_ON_FIRST_STATE
    assert len(third.outcomes) == len(first.outcomes)


def test_partly_deleted_results_validate_again(warehouse):
    con, docs = warehouse
    run_suite_on(con, docs, BUILD_ACCOUNTS, "r1", reuse=True)
    con.execute(f"delete from {RESULTS_TABLE} where run_id = 'r1' and not success")

    second = run_suite_on(con, docs, BUILD_ACCOUNTS, "r2", reuse=True)

    assert second.reused_from is None
    assert failures(second) == FAILURES_ON_FIRST_STATE


def test_same_run_validated_twice_keeps_latest(warehouse):
    con, docs = warehouse
    run_suite_on(con, docs, BUILD_ACCOUNTS, "r1", reuse=True)
    con.execute("update raw.crm_accounts set employee_count = 5 where account_id = 'a1'")
    # The same run validates again (a retried check): its rows now contain the second state's results.
    assert failures(run_suite_on(con, docs, BUILD_ACCOUNTS, "r1", reuse=True)) == [("warning", "owner_csm_id")]
    con.execute("update raw.crm_accounts set employee_count = -5 where account_id = 'a1'")

    back_to_first = run_suite_on(con, docs, BUILD_ACCOUNTS, "r2", reuse=True)

    assert back_to_first.reused_from is None
    assert failures(back_to_first) == FAILURES_ON_FIRST_STATE
    fingerprints = con.execute(f"select count(*) from {FINGERPRINTS_TABLE} where run_id = 'r1'").fetchone()[0]
    assert fingerprints == 1


def test_fingerprint_sees_every_column(warehouse):
    con, _ = warehouse
    # A column named like a table alias must not stand in for the whole row.
    con.execute("alter table raw.crm_accounts add column t varchar")
    before = validation_fingerprint(con, BUILD_ACCOUNTS(con), 30_000)

    con.execute("update raw.crm_accounts set employee_count = 5 where account_id = 'a1'")

    assert validation_fingerprint(con, BUILD_ACCOUNTS(con), 30_000) != before


def test_swapped_values_change_fingerprint(warehouse):
    con, _ = warehouse
    before = validation_fingerprint(con, BUILD_ACCOUNTS(con), 30_000)

    # Each column keeps its values, but a1 and a2 swap their employee counts.
    con.execute("update raw.crm_accounts set employee_count = case account_id when 'a1' then 7 else -5 end")

    assert validation_fingerprint(con, BUILD_ACCOUNTS(con), 30_000) != before


def test_attached_database_is_ignored(warehouse, tmp_path):
    con, docs = warehouse
    run_suite_on(con, docs, BUILD_ACCOUNTS, "r1", reuse=True)
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as other_con:
        other_con.execute("create schema data_quality")
        other_con.execute("create table data_quality.validation_results (run_id varchar)")
    con.execute(f"attach '{other}' as other")

    second = run_suite_on(con, docs, BUILD_ACCOUNTS, "r2", reuse=True)

    assert second.reused_from == "r1"
