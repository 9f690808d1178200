"""The demo simulator writes the whole landing contract, deterministically, with behaviour-driven churn."""

import csv
import gzip
import hashlib
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cs_warehouse import contract
from cs_warehouse.errors import CswError
from cs_warehouse.simulate import simulate
from cs_warehouse.simulate.calendar import HISTORY_START

# Big enough that every rare phenomenon (pauses, reactivations, write-offs) occurs with this seed.
PHENOMENA_ACCOUNTS = 150
PHENOMENA_MONTHS = 10
PHENOMENA_SEED = 7
SMALL_ACCOUNTS = 40
SMALL_MONTHS = 6
DAY = 86_400


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def dig(record: dict, dotted: str) -> tuple[bool, object]:
    """Follow a dotted contract source path; return whether every key exists and the value."""
    value: object = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("simulated")
    simulate(out_dir, accounts=PHENOMENA_ACCOUNTS, months=PHENOMENA_MONTHS, seed=PHENOMENA_SEED)
    return out_dir


@pytest.fixture(scope="module")
def events(landing: Path) -> list[dict]:
    calls = []
    for path in sorted((landing / "events").glob("*.jsonl.gz")):
        for call in read_jsonl(path):
            call["_file"] = path.name
            calls.append(call)
    return calls


@pytest.fixture(scope="module")
def subscription_events(landing: Path) -> list[dict]:
    return read_jsonl(landing / "billing" / "subscription_events.jsonl")


@pytest.fixture(scope="module")
def subscriptions(landing: Path) -> list[dict]:
    return read_jsonl(landing / "billing" / "subscriptions.jsonl")


@pytest.fixture(scope="module")
def invoices(landing: Path) -> list[dict]:
    return read_jsonl(landing / "billing" / "invoices.jsonl")


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_writes_same_bytes(tmp_path: Path):
    simulate(tmp_path / "a", accounts=SMALL_ACCOUNTS, months=SMALL_MONTHS, seed=3)
    simulate(tmp_path / "b", accounts=SMALL_ACCOUNTS, months=SMALL_MONTHS, seed=3)
    first, second = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    assert len(first) > 15
    assert first == second


def test_different_seed_writes_different_bytes(tmp_path: Path):
    simulate(tmp_path / "a", accounts=SMALL_ACCOUNTS, months=SMALL_MONTHS, seed=3)
    simulate(tmp_path / "b", accounts=SMALL_ACCOUNTS, months=SMALL_MONTHS, seed=4)
    first, second = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    assert first.keys() == second.keys()
    assert first["billing/subscription_events.jsonl"] != second["billing/subscription_events.jsonl"]
    assert first["events/2024-03.jsonl.gz"] != second["events/2024-03.jsonl.gz"]


def test_gzip_header_has_no_time_or_name(landing: Path):
    header = (landing / "events" / "2024-02.jsonl.gz").read_bytes()[:10]
    assert header[3] & 0x08 == 0, "FNAME flag set"
    assert header[4:8] == b"\x00\x00\x00\x00", "mtime is not 0"


def test_parquet_events_match_jsonl_events(tmp_path: Path):
    simulate(tmp_path / "j", accounts=SMALL_ACCOUNTS, months=3, seed=5, events_format="jsonl")
    simulate(tmp_path / "p", accounts=SMALL_ACCOUNTS, months=3, seed=5, events_format="parquet")
    for month in ("2024-01", "2024-02", "2024-03"):
        lines = read_jsonl(tmp_path / "j" / "events" / f"{month}.jsonl.gz")
        table = pq.read_table(tmp_path / "p" / "events" / f"{month}.parquet")
        assert table.column("messageId").to_pylist() == [line["messageId"] for line in lines]
        assert {"properties", "traits", "context", "timestamp", "sentAt", "receivedAt"} <= set(table.column_names)
    assert not list((tmp_path / "p" / "events").glob("*.jsonl.gz"))


def test_parquet_same_seed_same_bytes(tmp_path: Path):
    simulate(tmp_path / "a", accounts=20, months=2, seed=9, events_format="parquet")
    simulate(tmp_path / "b", accounts=20, months=2, seed=9, events_format="parquet")
    first, second = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    assert "events/2024-02.parquet" in first
    assert first == second


def test_rerun_with_fewer_months_removes_stale_event_files(tmp_path: Path):
    simulate(tmp_path, accounts=5, months=3, seed=1)
    simulate(tmp_path, accounts=5, months=2, seed=1)
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["2024-01.jsonl.gz", "2024-02.jsonl.gz"]


def test_invalid_arguments_raise_csw_error(tmp_path: Path):
    with pytest.raises(CswError, match="--accounts"):
        simulate(tmp_path, accounts=0)
    with pytest.raises(CswError, match="--months"):
        simulate(tmp_path, months=0)
    with pytest.raises(CswError, match="events format"):
        simulate(tmp_path, events_format="csv")


# -- the landing contract --------------------------------------------------------------------------


def test_every_contract_entity_has_files(landing: Path):
    for entity in contract.ENTITIES:
        files = [p for pattern in entity.patterns for p in landing.glob(pattern)]
        files += [p for pattern in entity.patterns for p in landing.glob(pattern + ".gz")]
        assert files, f"no file for {entity.table} ({entity.patterns})"


def test_csv_headers_are_contract_columns(landing: Path):
    for entity in contract.ENTITIES:
        if entity.file_format != "csv":
            continue
        for pattern in entity.patterns:
            for path in landing.glob(pattern):
                with path.open(newline="") as handle:
                    header = next(csv.reader(handle))
                assert header == [c.source_path for c in entity.columns], path
                with path.open(newline="") as handle:
                    rows = list(csv.DictReader(handle))
                assert rows, path
                for column in entity.required_columns:
                    assert all(row[column.source_path] != "" for row in rows), f"{path.name}: empty {column.name}"


def test_json_records_have_required_fields(landing: Path, events: list[dict]):
    for entity in contract.ENTITIES:
        if entity.file_format == "csv":
            continue
        if entity.file_format == "events":
            records = events
        else:
            records = [r for pattern in entity.patterns for p in landing.glob(pattern) for r in read_jsonl(p)]
        assert records, entity.table
        for column in entity.required_columns:
            missing = [r for r in records if dig(r, column.source_path)[1] is None]
            assert not missing, f"{entity.table}: {len(missing)} records without {column.source_path}"
        for child in entity.children:
            for record in records:
                present, items = dig(record, child.array_path)
                assert present and items, f"{entity.table}: empty {child.array_path}"
                for item in items:
                    for column in child.columns:
                        if column.required:
                            assert dig(item, column.source_path)[1] is not None, f"{child.table}.{column.name}"


def test_allowed_values_hold(landing: Path, subscription_events: list[dict], invoices: list[dict]):
    checks = [
        (contract.BILLING_SUBSCRIPTION_EVENTS, subscription_events),
        (contract.BILLING_INVOICES, invoices),
        (contract.BILLING_PRICES, read_jsonl(landing / "billing" / "prices.jsonl")),
        (contract.BILLING_CREDIT_NOTES, read_jsonl(landing / "billing" / "credit_notes.jsonl")),
    ]
    for entity, records in checks:
        for column in entity.columns:
            if column.allowed is None:
                continue
            values = {dig(r, column.source_path)[1] for r in records} - {None}
            assert values <= set(column.allowed), f"{entity.table}.{column.name}: {values - set(column.allowed)}"


def test_duckdb_reads_every_file(landing: Path):
    con = duckdb.connect()
    for entity in contract.ENTITIES:
        paths = [p for pattern in entity.patterns for p in [*landing.glob(pattern), *landing.glob(pattern + ".gz")]]
        if entity.file_format == "events":
            paths = sorted(paths)[-1:]
        for path in paths:
            reader = "read_csv" if entity.file_format == "csv" else "read_json"
            rows = con.execute(f"select count(*) from {reader}('{path}')").fetchone()[0]
            assert rows > 0, path


# -- billing ---------------------------------------------------------------------------------------


def test_snapshot_equals_last_event_state(subscriptions: list[dict], subscription_events: list[dict]):
    last_state = {}
    for event in sorted(subscription_events, key=lambda e: e["created"]):
        last_state[event["data"]["object"]["id"]] = event["data"]["object"]
    assert len(last_state) == len(subscriptions)
    for subscription in subscriptions:
        assert subscription == last_state[subscription["id"]], subscription["id"]


def test_previous_attributes_replay_to_prior_state(subscription_events: list[dict]):
    state: dict[str, dict] = {}
    for event in sorted(subscription_events, key=lambda e: e["created"]):
        current = event["data"]["object"]
        previous = event["data"].get("previous_attributes")
        if previous is not None:
            before = state[current["id"]]
            assert previous, event["id"]
            for key, value in previous.items():
                assert before[key] == value, (event["id"], key)
            for key in current:
                if key not in previous:
                    assert before[key] == current[key], (event["id"], key)
        state[current["id"]] = current


def test_one_created_event_per_subscription(subscriptions: list[dict], subscription_events: list[dict]):
    created = [e["data"]["object"]["id"] for e in subscription_events if e["type"] == "customer.subscription.created"]
    assert sorted(created) == sorted(s["id"] for s in subscriptions)


def test_prices_cover_intervals_and_currencies(landing: Path, subscription_events: list[dict]):
    used = {
        (item["price"]["recurring"]["interval"], item["price"]["recurring"]["interval_count"], item["price"]["currency"])
        for e in subscription_events for item in e["data"]["object"]["items"]["data"]
    }
    assert {(i, n) for i, n, _ in used} == {("month", 1), ("month", 3), ("year", 1)}
    assert {c for _, _, c in used} == {"usd", "eur", "gbp"}


def test_subscription_lifecycles_occur(subscription_events: list[dict]):
    objects = [e["data"]["object"] for e in subscription_events]
    updates = [e for e in subscription_events if e["type"] == "customer.subscription.updated"]
    changed = [set(e["data"]["previous_attributes"]) for e in updates]
    assert any(o["status"] == "trialing" for o in objects)
    trial_ids = {o["id"] for o in objects if o["status"] == "trialing"}
    trial_outcomes = {o["status"] for o in objects if o["id"] in trial_ids}
    assert {"active", "canceled"} <= trial_outcomes
    assert any(o["cancel_at_period_end"] for o in objects)
    assert any(o["status"] == "paused" and o["pause_collection"] for o in objects)
    assert any(e["type"] == "customer.subscription.resumed" for e in subscription_events)
    assert any(o["status"] == "past_due" for o in objects)
    assert any("items" in keys for keys in changed)
    assert any(e["type"] == "customer.subscription.deleted" for e in subscription_events)


def test_scheduled_cancellation_ends_on_time(subscription_events: list[dict]):
    requested = [e for e in subscription_events
                 if e["type"] == "customer.subscription.updated" and e["data"]["object"]["cancel_at_period_end"]]
    assert requested
    for event in requested:
        sub = event["data"]["object"]
        assert sub["cancel_at"] == sub["current_period_end"]
        assert sub["canceled_at"] == event["created"] or "cancel_at_period_end" not in event["data"]["previous_attributes"]
    deleted = [e["data"]["object"] for e in subscription_events
               if e["type"] == "customer.subscription.deleted" and e["data"]["object"]["cancel_at_period_end"]]
    assert deleted
    for sub in deleted:
        assert sub["status"] == "canceled"
        assert sub["ended_at"] == sub["current_period_end"] == sub["cancel_at"]


def test_seat_and_tier_changes_occur(subscription_events: list[dict]):
    ups = downs = upgrades = downgrades = 0
    tiers = ("starter", "growth", "enterprise")
    for event in subscription_events:
        previous = event["data"].get("previous_attributes") or {}
        if "items" not in previous:
            continue
        old = previous["items"]["data"][0]
        new = event["data"]["object"]["items"]["data"][0]
        ups += new["quantity"] > old["quantity"]
        downs += new["quantity"] < old["quantity"]
        old_tier, new_tier = old["price"]["metadata"]["tier"], new["price"]["metadata"]["tier"]
        if old_tier in tiers and new_tier in tiers:
            upgrades += tiers.index(new_tier) > tiers.index(old_tier)
            downgrades += tiers.index(new_tier) < tiers.index(old_tier)
    assert ups > 0
    assert downs > 0
    assert upgrades > 0
    assert downgrades > 0


def test_reactivation_and_add_on_occur(subscriptions: list[dict]):
    main_by_account: dict[str, list[dict]] = {}
    for sub in subscriptions:
        if sub["metadata"]["role"] == "main":
            main_by_account.setdefault(sub["metadata"]["account_id"], []).append(sub)
    reactivated = [
        subs for subs in main_by_account.values()
        if len(subs) > 1 and subs[0]["ended_at"] is not None and subs[1]["created"] > subs[0]["ended_at"]
    ]
    assert reactivated
    assert any(sub["metadata"]["role"] == "add_on" for sub in subscriptions)


def test_add_on_can_end_while_main_runs(subscriptions: list[dict]):
    """Dropping the add-on alone contracts revenue; an add-on never outlives its main subscription."""
    by_account: dict[str, list[dict]] = {}
    for sub in subscriptions:
        by_account.setdefault(sub["metadata"]["account_id"], []).append(sub)
    dropped_alone = 0
    for subs in by_account.values():
        mains = [s for s in subs if s["metadata"]["role"] == "main"]
        for addon in (s for s in subs if s["metadata"]["role"] == "add_on"):
            covering = [m for m in mains if m["created"] <= addon["created"]
                        and (m["ended_at"] is None or m["ended_at"] >= addon["created"])]
            assert covering, addon["id"]
            main = covering[-1]
            if addon["ended_at"] is None:
                assert main["ended_at"] is None, addon["id"]
            elif main["ended_at"] is None or addon["ended_at"] < main["ended_at"]:
                dropped_alone += 1
    assert dropped_alone > 0


def test_discounts_occur(subscription_events: list[dict], invoices: list[dict]):
    durations = {e["data"]["object"]["discount"]["coupon"]["duration"]
                 for e in subscription_events if e["data"]["object"]["discount"]}
    assert durations == {"once", "repeating", "forever"}
    assert any(inv["total_discount_amount"] > 0 for inv in invoices)


def test_invoices_cover_statuses_and_prorations(invoices: list[dict]):
    end = int(HISTORY_START.timestamp()) + PHENOMENA_MONTHS * 30 * DAY
    statuses = {inv["status"] for inv in invoices}
    assert {"paid", "open", "void", "uncollectible"} <= statuses
    assert any(inv["status"] == "open" and inv["due_date"] < end - 5 * DAY for inv in invoices)
    assert any(line["proration"] for inv in invoices for line in inv["lines"]["data"])
    for inv in invoices:
        assert inv["total"] == inv["subtotal"] - inv["total_discount_amount"]
        if inv["status"] == "paid":
            assert inv["status_transitions"]["paid_at"] is not None
            assert inv["amount_remaining"] == 0


def test_late_paid_invoices_exist(invoices: list[dict]):
    late = [inv for inv in invoices if inv["status"] == "paid" and inv["status_transitions"]["paid_at"] > inv["due_date"]]
    assert late


def test_credit_notes_reference_invoices(landing: Path, invoices: list[dict]):
    notes = read_jsonl(landing / "billing" / "credit_notes.jsonl")
    by_id = {inv["id"]: inv for inv in invoices}
    assert {n["type"] for n in notes} == {"pre_payment", "post_payment"}
    for note in notes:
        assert note["invoice"] in by_id
        assert 0 < note["amount"] <= by_id[note["invoice"]]["total"]


def test_fx_rates_cover_every_day(landing: Path):
    rates = read_jsonl(landing / "billing" / "fx_rates.jsonl")
    days = {r["date"] for r in rates}
    assert {r["currency"] for r in rates} == {"usd", "eur", "gbp"}
    assert {r["quote"] for r in rates} == {"usd"}
    assert len(rates) == 3 * len(days)
    assert min(days) == "2024-01-01"


# -- CRM and catalog --------------------------------------------------------------------------------


def read_csv(landing: Path, name: str) -> list[dict]:
    with (landing / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_champion_per_account_and_some_leave(landing: Path):
    contacts = read_csv(landing, "crm/contacts.csv")
    champions = [c for c in contacts if c["is_champion"] == "true"]
    assert len(champions) == len({c["account_id"] for c in champions}) == PHENOMENA_ACCOUNTS
    assert any(c["left_at"] for c in champions)


def test_crm_activity_kinds_occur(landing: Path):
    activities = read_csv(landing, "crm/cs_activities.csv")
    assert {a["activity_type"] for a in activities} == {"call", "email", "meeting", "business_review", "note"}
    assert any(a["competitor_mentioned"] == "true" for a in activities)
    tickets = read_csv(landing, "crm/tickets.csv")
    assert {t["priority"] for t in tickets} == {"low", "normal", "high", "urgent"}
    assert {"closed", "solved"} <= {t["status"] for t in tickets}
    assert any(t["csat"] for t in tickets)
    scores = {int(r["score"]) for r in read_csv(landing, "crm/nps_responses.csv")}
    assert min(scores) <= 6
    assert max(scores) >= 9


def test_feature_catalog_shape(landing: Path):
    rows = read_csv(landing, "catalog/features.csv")
    assert 15 <= len(rows) <= 25
    assert sum(r["is_activation"] == "true" for r in rows) == 1
    assert 4 <= len({r["onboarding_task"] for r in rows if r["onboarding_task"]}) <= 6
    assert any(r["is_premium"] == "true" for r in rows)
    assert any(r["is_feature"] == "false" for r in rows)


# -- events ----------------------------------------------------------------------------------------


def test_event_call_types_and_names(landing: Path, events: list[dict]):
    catalog = {r["event_name"] for r in read_csv(landing, "catalog/features.csv")}
    assert {e["type"] for e in events} == {"track", "identify", "group"}
    assert {e["event"] for e in events if e["type"] == "track"} <= catalog
    accounts = {r["account_id"] for r in read_csv(landing, "crm/accounts.csv")}
    assert {e["groupId"] for e in events} <= accounts


def test_events_contain_duplicates(events: list[dict]):
    by_id: dict[str, list[dict]] = {}
    for event in events:
        by_id.setdefault(event["messageId"], []).append(event)
    duplicates = [copies for copies in by_id.values() if len(copies) > 1]
    share = len(duplicates) / len(by_id)
    assert 0.003 < share < 0.012
    for copies in duplicates:
        assert len({c["receivedAt"] for c in copies}) == len(copies)
        assert len({c["timestamp"] for c in copies}) == 1


def test_events_contain_clock_skew(events: list[dict]):
    """Skewed clients shift timestamp and sentAt together, so sentAt - receivedAt shows the skew."""
    first_copies = {}
    for event in sorted(events, key=lambda e: e["receivedAt"]):
        first_copies.setdefault(event["messageId"], event)
    skew_seconds = [
        (datetime.fromisoformat(e["sentAt"]) - datetime.fromisoformat(e["receivedAt"])).total_seconds()
        for e in first_copies.values()
    ]
    skewed = [abs(gap) for gap in skew_seconds if abs(gap) >= 120]
    assert 0.005 < len(skewed) / len(skew_seconds) < 0.1
    assert max(skewed) > 3600
    normal = [gap for gap in skew_seconds if abs(gap) < 120]
    assert max(abs(gap) for gap in normal) < 10


def test_late_events_land_in_a_later_file(events: list[dict]):
    late_in_later_file = [
        e for e in events if e["timestamp"][:7] < e["_file"][:7] and e["receivedAt"][:10] > e["timestamp"][:10]
    ]
    assert late_in_later_file
    for event in events:
        assert event["receivedAt"][:7] == event["_file"][:7]


def test_files_are_ordered_by_received_at(events: list[dict]):
    by_file: dict[str, list[str]] = {}
    for event in events:
        by_file.setdefault(event["_file"], []).append(event["receivedAt"])
    for name, received in by_file.items():
        assert received == sorted(received), name


# -- behaviour ---------------------------------------------------------------------------------------


def test_churned_accounts_used_less_before_churn(landing: Path):
    """Churned accounts' track calls in their last 60 days are fewer than retained accounts' last 60 days."""
    con = duckdb.connect()
    billing, events = landing / "billing", landing / "events"
    end = f"timestamp '{HISTORY_START.replace(tzinfo=None)}' + interval {PHENOMENA_MONTHS} month"
    churned_mean, retained_mean, churned, retained = con.execute(f"""
        with subscriptions as (
            select
                metadata.account_id as account_id,
                status,
                to_timestamp(ended_at)::timestamp as ended_at,
                to_timestamp(trial_end)::timestamp as trial_end_at,
                to_timestamp(created)::timestamp as created_at
            from read_json('{billing}/subscriptions.jsonl')
            where metadata.role = 'main'
        ),
        accounts as (
            select
                account_id,
                min(created_at) as first_created_at,
                bool_or(status in ('active', 'past_due')) as is_retained,
                bool_and(status = 'canceled') as is_churned,
                max(ended_at) as churned_at,
                bool_or(trial_end_at is null or ended_at > trial_end_at) as had_paid
            from subscriptions
            group by account_id
        ),
        windows as (
            select account_id, is_churned, case when is_churned then churned_at else {end} end as window_end
            from accounts
            where (is_retained or (is_churned and had_paid))
                and first_created_at < (case when is_churned then churned_at else {end} end) - interval 90 day
        ),
        calls as (
            select groupId as account_id, timestamp::timestamp as event_at
            from read_json('{events}/*.jsonl.gz', columns = {{groupId: 'varchar', type: 'varchar', timestamp: 'varchar'}})
            where type = 'track'
        ),
        usage as (
            select windows.account_id, windows.is_churned, count(calls.event_at) as calls
            from windows
            left join calls
                on calls.account_id = windows.account_id
                and calls.event_at >= windows.window_end - interval 60 day
                and calls.event_at < windows.window_end
            group by windows.account_id, windows.is_churned
        )
        select
            avg(calls) filter (where is_churned),
            avg(calls) filter (where not is_churned),
            count(*) filter (where is_churned),
            count(*) filter (where not is_churned)
        from usage
    """).fetchone()
    assert churned >= 5
    assert retained >= 20
    assert churned_mean < 0.8 * retained_mean


def test_expanding_accounts_used_more_per_seat(landing: Path):
    """Accounts that added seats made more track calls per seat in the 60 days before than accounts that removed seats."""
    con = duckdb.connect()
    billing, events = landing / "billing", landing / "events"
    rows = con.execute(f"""
        with seat_changes as (
            select
                data ->> '$.object.metadata.account_id' as account_id,
                to_timestamp(created)::timestamp as changed_at,
                (data -> '$.object.items.data[0].quantity')::integer as new_quantity,
                (data -> '$.previous_attributes.items.data[0].quantity')::integer as old_quantity
            from read_json('{billing}/subscription_events.jsonl', columns = {{type: 'varchar', created: 'bigint', data: 'json'}})
            where type = 'customer.subscription.updated'
                and data ->> '$.object.metadata.role' = 'main'
                and json_exists(data, '$.previous_attributes.items')
        ),
        calls as (
            select groupId as account_id, timestamp::timestamp as event_at
            from read_json('{events}/*.jsonl.gz', columns = {{groupId: 'varchar', type: 'varchar', timestamp: 'varchar'}})
            where type = 'track'
        ),
        usage as (
            select
                seat_changes.account_id,
                seat_changes.changed_at,
                case when seat_changes.new_quantity > seat_changes.old_quantity then 'expansion' else 'contraction' end
                    as direction,
                count(calls.event_at) / any_value(seat_changes.old_quantity) as calls_per_seat
            from seat_changes
            left join calls
                on calls.account_id = seat_changes.account_id
                and calls.event_at >= seat_changes.changed_at - interval 60 day
                and calls.event_at < seat_changes.changed_at
            where seat_changes.new_quantity <> seat_changes.old_quantity
            group by seat_changes.account_id, seat_changes.changed_at, seat_changes.new_quantity, seat_changes.old_quantity
        )
        select direction, count(*), avg(calls_per_seat) from usage group by direction
    """).fetchall()
    by_direction = {direction: (count, mean) for direction, count, mean in rows}
    assert by_direction["expansion"][0] >= 5
    assert by_direction["contraction"][0] >= 5
    assert by_direction["expansion"][1] > 1.5 * by_direction["contraction"][1]
