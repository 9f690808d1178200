"""Customer-success marts built by a real `dbt build` on a small warehouse, checked against hand-worked numbers.

Two accounts, data from 2025-01-01 to the as-of date 2025-03-31:

- acc_a pays for an annual contract (2 seats at 1,200.00 a year each, so MRR 200.00) whose period ends on
  2025-06-15. User u1 logs in and runs a report every day at 09:00 and 09:10 (one session of two events);
  u2 exports once on 2025-03-25. It has a champion, one CS call on 2025-03-01 and an NPS score of 9.
- acc_b pays monthly for 1 seat. u3 logs in once a day until 2025-03-10 and invited a teammate on
  2025-01-06. It opened 6 tickets in March, has an invoice overdue since 2025-03-16, mentioned a competitor
  on 2025-03-05 and its champion left on 2025-03-20.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cs_warehouse.config import DBT_PROJECT_DIR, WAREHOUSE_ENV
from cs_warehouse.raw_schema import create_raw_schema

DBT = str(Path(sys.executable).parent / "dbt")
# One `dbt build` runs the customer-success models with their upstream revenue models, and the data
# tests and unit tests of everything it builds except the revenue ones, which tests/test_dbt_revenue.py
# covers. int_cs__as_of_date is selected by path because no customer-success model reads it.
BUILD_SELECTION = [
    "+path:models/marts/customer_success",
    "+path:models/dashboards",
    "path:models/intermediate/customer_success",
    "path:tests/customer_success",
]
REVENUE_PATHS = [
    "path:models/staging/billing",
    "path:models/intermediate/revenue",
    "path:models/marts/revenue",
    "path:tests/revenue",
]
REVENUE_TEST_EXCLUSION = [
    f"{resource_type},{path}"
    for path in REVENUE_PATHS
    for resource_type in ("resource_type:test", "resource_type:unit_test")
]
SCORE_SELECTION = ["source:ml+"]
AS_OF = date(2025, 3, 31)
FIRST_DAY = date(2025, 1, 5)
ACC_B_LAST_DAY = date(2025, 3, 10)

CHURN_SCORES_DDL = """
create table ml.churn_scores (
    account_id varchar, as_of_date date, model_version varchar, churn_probability double, risk_tier varchar,
    driver_1 varchar, driver_1_contribution double, driver_2 varchar, driver_2_contribution double,
    driver_3 varchar, driver_3_contribution double, scored_at timestamp
)
"""


def run_dbt(args: list[str], warehouse: Path, work_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run one dbt command on `warehouse`, keeping target/ and logs/ under `work_dir`."""
    command = [
        DBT, *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]
    environment = {**os.environ, WAREHOUSE_ENV: str(warehouse)}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def event_rows() -> list[tuple]:
    """Track calls of both accounts: (message_id, event_name, user_id, account_id, event_at)."""
    rows = []
    for day in days(FIRST_DAY, AS_OF):
        morning = datetime(day.year, day.month, day.day, 9)
        rows.append((f"a-login-{day}", "ev_login", "u1", "acc_a", morning))
        rows.append((f"a-report-{day}", "ev_report", "u1", "acc_a", morning + timedelta(minutes=10)))
    rows.append(("a-export", "ev_export", "u2", "acc_a", datetime(2025, 3, 25, 10)))
    for day in days(FIRST_DAY, ACC_B_LAST_DAY):
        rows.append((f"b-login-{day}", "ev_login", "u3", "acc_b", datetime(day.year, day.month, day.day, 8)))
    rows.append(("b-invite", "ev_invite", "u3", "acc_b", datetime(2025, 1, 6, 8, 5)))
    return rows


def subscription_event_row(event_id: str, subscription: str, customer: str, at: datetime, period_end: datetime) -> tuple:
    return (event_id, "customer.subscription.created", at, subscription, customer, "active", "usd", at, at, at,
            period_end)


def fill_raw(warehouse: Path) -> None:
    """Create the raw schema and insert the two accounts of the module docstring."""
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
        con.execute("insert into raw.crm_csms (csm_id, name, team) values ('csm_1', 'Dana Reyes', 'emea')")
        con.execute(
            "insert into raw.crm_accounts (account_id, name, employee_count, owner_csm_id, created_at) values "
            "('acc_a', 'Alpha', 100, 'csm_1', '2025-01-01 10:00'), ('acc_b', 'Beta', 5, 'csm_1', '2025-01-01 11:00')"
        )
        con.execute(
            "insert into raw.billing_customers (customer_id, account_id, created_at) values "
            "('cus_a', 'acc_a', '2025-01-01'), ('cus_b', 'acc_b', '2025-01-01')"
        )
        con.execute(
            "insert into raw.billing_prices (price_id, unit_amount, currency, interval, interval_count, is_active) "
            "values ('price_year', 120000, 'usd', 'year', 1, true), ('price_month', 10000, 'usd', 'month', 1, true)"
        )
        con.executemany(
            "insert into raw.billing_subscription_events (event_id, event_type, event_created_at, subscription_id, "
            "customer_id, status, currency, created_at, started_at, current_period_start_at, current_period_end_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                subscription_event_row("evt_a", "sub_a", "cus_a", datetime(2025, 1, 2), datetime(2025, 6, 15)),
                subscription_event_row("evt_b", "sub_b", "cus_b", datetime(2025, 1, 2), datetime(2025, 2, 2)),
            ],
        )
        con.execute(
            "insert into raw.billing_subscription_event_items (event_id, item_id, price_id, quantity) values "
            "('evt_a', 'si_a', 'price_year', 2), ('evt_b', 'si_b', 'price_month', 1)"
        )
        con.execute(
            "insert into raw.billing_subscriptions (subscription_id, customer_id, status, currency, created_at) "
            "values ('sub_a', 'cus_a', 'active', 'usd', '2025-01-02'), ('sub_b', 'cus_b', 'active', 'usd', '2025-01-02')"
        )
        con.execute(
            "insert into raw.billing_subscription_items (subscription_id, item_id, price_id, quantity) values "
            "('sub_a', 'si_a', 'price_year', 2), ('sub_b', 'si_b', 'price_month', 1)"
        )
        con.execute(
            "insert into raw.billing_invoices (invoice_id, customer_id, subscription_id, status, currency, total, "
            "amount_due, amount_paid, amount_remaining, created_at, due_at, paid_at) values "
            "('in_a', 'cus_a', 'sub_a', 'paid', 'usd', 240000, 240000, 240000, 0, '2025-01-02', '2025-01-16', "
            "'2025-01-10'), "
            "('in_b', 'cus_b', 'sub_b', 'open', 'usd', 10000, 10000, 0, 10000, '2025-03-01', '2025-03-15', null)"
        )
        con.execute(
            "insert into raw.catalog_features (event_name, feature_name, is_feature, is_premium, is_activation, "
            "onboarding_task) values "
            "('ev_login', null, false, false, false, null), "
            "('ev_report', 'reports', true, false, true, 'first_report'), "
            "('ev_export', 'exports', true, true, false, null), "
            "('ev_invite', 'invites', true, false, false, 'invite_team')"
        )
        con.executemany(
            "insert into raw.events (message_id, event_type, event_name, user_id, account_id, timestamp, "
            "received_at, event_at, is_future_dated) values (?, 'track', ?, ?, ?, ?, ?, ?, false)",
            [(mid, name, user, account, at, at, at) for mid, name, user, account, at in event_rows()],
        )
        con.execute(
            "insert into raw.crm_contacts (contact_id, account_id, is_champion, created_at, left_at) values "
            "('con_a', 'acc_a', true, '2025-01-01', null), ('con_b', 'acc_b', true, '2025-01-01', '2025-03-20 12:00')"
        )
        con.executemany(
            "insert into raw.crm_tickets (ticket_id, account_id, created_at, first_response_at, priority, status) "
            "values (?, 'acc_b', ?, ?, 'normal', 'open')",
            [(f"t{day}", datetime(2025, 3, day, 9), datetime(2025, 3, day, 11)) for day in range(2, 8)],
        )
        con.execute(
            "insert into raw.crm_nps_responses (response_id, account_id, contact_id, score, answered_at) values "
            "('nps_a', 'acc_a', 'con_a', 9, '2025-02-15 12:00')"
        )
        con.execute(
            "insert into raw.crm_cs_activities (activity_id, account_id, csm_id, activity_type, occurred_at, "
            "competitor_mentioned) values "
            "('act_a', 'acc_a', 'csm_1', 'call', '2025-03-01 15:00', false), "
            "('act_b', 'acc_b', 'csm_1', 'call', '2025-03-05 15:00', true)"
        )
        con.execute("create schema ml")
        con.execute(CHURN_SCORES_DDL)
    finally:
        con.close()


@pytest.fixture(scope="module")
def cs_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the warehouse and of dbt's target/ and logs/, shared so later dbt runs parse partially."""
    return tmp_path_factory.mktemp("customer_success")


@pytest.fixture(scope="module")
def cs_warehouse(cs_work_dir: Path) -> Path:
    """The small warehouse with every customer-success model built and tested, with an empty ml.churn_scores."""
    work_dir = cs_work_dir
    warehouse = work_dir / "warehouse.duckdb"
    fill_raw(warehouse)
    result = run_dbt(["build", "--select", *BUILD_SELECTION, "--exclude", *REVENUE_TEST_EXCLUSION], warehouse, work_dir)
    assert result.returncode == 0, result.stdout[-6000:]
    return warehouse


def query(warehouse: Path, sql: str) -> list[tuple]:
    """Return the rows of `sql`, with DECIMAL values as floats so pytest.approx can compare them."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    return [tuple(float(value) if isinstance(value, Decimal) else value for value in row) for row in rows]


def test_as_of_date_comes_from_data(cs_warehouse: Path) -> None:
    assert query(cs_warehouse, "select as_of_date from intermediate.int_as_of_date") == [(AS_OF,)]


def test_revenue_spine_shares_as_of(cs_warehouse: Path) -> None:
    # The latest record is u1's report at 09:10 on 2025-03-31, later than every invoice and
    # subscription change, so the revenue marts measure March at that instant too.
    rows = query(
        cs_warehouse,
        "select month_start_date, measured_at_local from intermediate.int_revenue_months where is_as_of_month",
    )
    assert rows == [(date(2025, 3, 1), datetime(2025, 3, 31, 9, 10))]


def test_health_of_acc_a_by_hand(cs_warehouse: Path) -> None:
    (row,) = query(
        cs_warehouse,
        "select usage_score, engagement_score, satisfaction_score, growth_score, relationship_score, "
        "data_coverage, health_score, health_status from marts.account_health_daily "
        "where account_id = 'acc_a' and date_day = date '2025-03-31'",
    )
    # Last 30 days: active every day, 2 of 3 features, 61 events in 31 sessions, 4 of 4 weeks.
    usage = 100 * (30 / 30 + 2 / 3 + (61 / 31) / 10 + 4 / 4) / 4
    # 29 user-days over 28 days for 2 users: stickiness 0.52 / 0.5 is capped at 1; 2 users on 2 seats.
    engagement = 100.0
    # No rated ticket; NPS 9 and no ticket in 30 days.
    satisfaction = 100 * (0.9 + 1.0) / 2
    # One touch in 90 days and a champion.
    relationship = 100 * (1 / 3 + 1) / 2
    # No MRR three months before February and no seat count 90 days back: growth has no data.
    coverage = 0.35 + 0.25 + 0.20 + 0.05
    score = (0.35 * usage + 0.25 * engagement + 0.20 * satisfaction + 0.05 * relationship) / coverage
    assert row[0] == pytest.approx(round(usage, 2))
    assert row[1] == pytest.approx(engagement)
    assert row[2] == pytest.approx(satisfaction)
    assert row[3] is None
    assert row[4] == pytest.approx(round(relationship, 2))
    assert row[5] == pytest.approx(coverage)
    assert row[6] == pytest.approx(round(score, 2), abs=0.01)
    assert row[7] == "healthy"


def test_health_only_for_paying_days(cs_warehouse: Path) -> None:
    # Both subscriptions start on 2025-01-02, so 2025-01-01 has no health row.
    (row,) = query(cs_warehouse, "select min(date_day), count(*) from marts.account_health_daily")
    assert row[0] == date(2025, 1, 2)
    assert row[1] == 2 * ((AS_OF - date(2025, 1, 2)).days + 1)


def test_churn_signals_by_hand(cs_warehouse: Path) -> None:
    rows = query(
        cs_warehouse,
        "select account_id, has_no_login_14d, has_many_tickets_30d, has_overdue_invoice, has_champion_left_90d, "
        "has_competitor_mention_90d, has_renewal_within_90d, has_usage_decline_30d, risk_share, risk_level "
        "from marts.churn_risk_signals where date_day = date '2025-03-31' order by account_id",
    )
    # acc_a renews in 76 days and raises no other signal.
    assert rows[0] == ("acc_a", False, False, False, False, False, True, False, pytest.approx(1 / 7, abs=1e-6), "low")
    # acc_b: last login 21 days ago, 6 tickets, overdue invoice, champion left, competitor, monthly plan
    # (no renewal), 9 events against 30 in the 30 days before.
    assert rows[1] == ("acc_b", True, True, True, True, True, False, True, pytest.approx(6 / 7, abs=1e-6), "high")


def test_overdue_starts_day_after_due_date(cs_warehouse: Path) -> None:
    rows = query(
        cs_warehouse,
        "select date_day, has_overdue_invoice from marts.churn_risk_signals "
        "where account_id = 'acc_b' and date_day between date '2025-03-15' and date '2025-03-16' order by date_day",
    )
    assert rows == [(date(2025, 3, 15), False), (date(2025, 3, 16), True)]


def test_engagement_week_by_hand(cs_warehouse: Path) -> None:
    rows = query(
        cs_warehouse,
        "select account_id, week_start_date, daily_active_users, weekly_active_users, monthly_active_users, "
        "stickiness, lifecycle_stage from marts.account_engagement_weekly "
        "where week_start_date in (date '2025-03-10', date '2025-03-17', date '2025-03-24') "
        "order by account_id, week_start_date",
    )
    assert rows[2] == ("acc_a", date(2025, 3, 24), pytest.approx(8 / 7), 2, 2, pytest.approx(4 / 7), "returning")
    assert rows[3][6] == "returning"
    assert rows[4][6] == "dormant"
    assert rows[5][6] == "dormant"
    first_week = query(
        cs_warehouse,
        "select lifecycle_stage from marts.account_engagement_weekly "
        "where account_id = 'acc_b' and week_start_date = date '2024-12-30'",
    )
    assert first_week == [("new",)]


def test_feature_adoption_march(cs_warehouse: Path) -> None:
    rows = query(
        cs_warehouse,
        "select feature_name, active_accounts, penetration, repeat_use_rate, adoption_stage "
        "from marts.feature_adoption where month_start_date = date '2025-03-01' order by feature_name",
    )
    assert rows == [
        ("exports", 2, 0.5, 0.0, "adopted"),
        ("invites", 2, 0.0, None, "none"),
        ("reports", 2, 0.5, 1.0, "adopted"),
    ]


def test_activation_by_hand(cs_warehouse: Path) -> None:
    rows = query(
        cs_warehouse,
        "select account_id, days_to_activation, activation_status, onboarding_completion_rate "
        "from marts.account_activation order by account_id",
    )
    assert rows == [("acc_a", 4, "activated_on_time", 0.5), ("acc_b", None, "missed", 0.5)]


def test_expansion_of_acc_a(cs_warehouse: Path) -> None:
    (row,) = query(
        cs_warehouse,
        "select seat_utilization, is_seat_expansion, proposed_additional_seats, seat_expansion_mrr, "
        "is_premium_upsell, is_department_expansion from marts.expansion_opportunities where account_id = 'acc_a'",
    )
    # 2 users on 2 seats; 30 % of 2 seats rounds up to 1 seat at 200.00 / 2; exports were used; 100 > 10 x 2.
    assert row == (1.0, True, 1, pytest.approx(100.0), False, True)


def test_renewal_falls_back_to_rule_based(cs_warehouse: Path) -> None:
    (row,) = query(
        cs_warehouse,
        "select renewal_date, days_to_renewal, arr, probability_source, forecast_renewal_arr, milestone_90_date "
        "from marts.renewals where account_id = 'acc_a'",
    )
    assert row[:4] == (date(2025, 6, 15), 76, pytest.approx(2400.0), "rule_based")
    assert row[4] == pytest.approx(2400 * (1 - 1 / 7), abs=0.01)
    assert row[5] == date(2025, 3, 17)
    # The monthly plan of acc_b has no renewal row.
    assert query(cs_warehouse, "select count(*) from marts.renewals where account_id = 'acc_b'") == [(0,)]


def test_renewal_uses_model_score(cs_warehouse: Path, tmp_path: Path) -> None:
    # A copy, so the score stays out of the warehouse the other tests read.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(cs_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "insert into ml.churn_scores (account_id, as_of_date, model_version, churn_probability, risk_tier, "
            "driver_1, scored_at) values ('acc_a', date '2025-03-31', 'v1', 0.6, 'high', 'tickets_30d', "
            "timestamp '2025-04-01 06:00')"
        )
    finally:
        con.close()
    result = run_dbt(["build", "--select", *SCORE_SELECTION], warehouse, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    (row,) = query(
        warehouse,
        "select probability_source, forecast_renewal_arr, milestone_lead_factor, milestone_90_date "
        "from marts.renewals where account_id = 'acc_a'",
    )
    # High risk moves the 90-day milestone to 135 days before 2025-06-15.
    assert row == ("model", pytest.approx(2400 * 0.4), 1.5, date(2025, 1, 31))
    at_risk = query(warehouse, "select account_id, probability_source from marts.at_risk_accounts order by 1")
    assert at_risk == [("acc_a", "model"), ("acc_b", "rule_based")]


def test_playbook_tasks_of_acc_b(cs_warehouse: Path) -> None:
    rows = query(
        cs_warehouse,
        "select risk_type, opened_date, step_day, due_date, task_status, csm_id from marts.playbook_tasks "
        "where account_id = 'acc_b' and risk_type in ('competitor_threat', 'champion_change') "
        "order by risk_type, step_number",
    )
    assert [row[3] for row in rows if row[0] == "champion_change"] == [
        date(2025, 3, 21), date(2025, 3, 23), date(2025, 3, 27), date(2025, 4, 3),
    ]
    assert [row[4] for row in rows if row[0] == "champion_change"] == ["overdue", "overdue", "overdue", "upcoming"]
    assert {row[1] for row in rows if row[0] == "competitor_threat"} == {date(2025, 3, 5)}
    assert {row[5] for row in rows} == {"csm_1"}


def test_segments_and_advocacy(cs_warehouse: Path) -> None:
    segments = query(cs_warehouse, "select account_id, segment from marts.account_segments order by account_id")
    assert segments == [("acc_a", "tech_touch"), ("acc_b", "tech_touch")]
    # acc_a gave an NPS score of 9 but has paid for under 3 months and never expanded.
    assert query(cs_warehouse, "select count(*) from marts.advocacy_candidates") == [(0,)]


def test_dashboards_built(cs_warehouse: Path) -> None:
    for table in ("kpi_trend", "cohort_heatmap", "health_distribution", "at_risk_list", "renewal_calendar"):
        assert query(cs_warehouse, f"select count(*) from dashboards.{table}")[0][0] > 0, table
    march = query(
        cs_warehouse,
        "select account_count from dashboards.health_distribution "
        "where month_start_date = date '2025-03-01' and health_status = 'healthy'",
    )
    assert march[0][0] >= 1


def test_pipeline_warehouse_marts_consistent(request: pytest.FixtureRequest) -> None:
    try:
        warehouse = Path(request.getfixturevalue("pipeline_warehouse"))
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py has no pipeline_warehouse fixture yet")
    (row,) = query(
        warehouse,
        "select count(*), min(health_score), max(health_score), "
        "max(abs(coalesce(usage_weight, 0) + coalesce(engagement_weight, 0) + coalesce(satisfaction_weight, 0) "
        "+ coalesce(growth_weight, 0) + coalesce(relationship_weight, 0) - 1)) from marts.account_health_daily",
    )
    assert row[0] > 0
    assert 0 <= row[1] <= row[2] <= 100
    assert row[3] < 1e-5
    mismatched = query(
        warehouse, "select count(*) from marts.churn_risk_signals where abs(risk_share - signal_count / 7.0) > 1e-6"
    )
    assert mismatched == [(0,)]


def test_only_score_models_read_churn_scores(cs_warehouse: Path, cs_work_dir: Path) -> None:
    # The core dbt selection runs before the ML assets, so nothing else may read ml.churn_scores.
    result = run_dbt(
        ["ls", "--select", "source:ml+", "--resource-type", "model", "--output", "name"], cs_warehouse, cs_work_dir
    )
    assert result.returncode == 0, result.stdout[-3000:]
    names = {line.strip() for line in result.stdout.splitlines() if line.strip() and " " not in line.strip()}
    assert names == {
        "int_cs__account_churn_probability",
        "at_risk_accounts",
        "renewals",
        "playbook_tasks",
        "at_risk_list",
        "renewal_calendar",
    }
