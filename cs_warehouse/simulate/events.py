"""Product events as Segment calls, generated month by month with numpy so memory stays bounded.

For each month, every seat holder of every account with access gets a daily chance of a session
(set by account health, the account's usage factor, weekday and the user's own propensity). A session
is a "Signed In" track call followed by feature calls drawn from the catalog. Users are identified on
their first session, accounts are grouped on their first session of each month. Then the data
defects of a real pipeline are added: duplicates (same messageId, later receivedAt), late arrivals
(sent and received days later) and users whose device clock is off by minutes to hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cs_warehouse.simulate.behaviour import WEEKEND_ACTIVITY_FACTOR
from cs_warehouse.simulate.calendar import DAY_SECONDS, HOUR_SECONDS, Calendar
from cs_warehouse.simulate.catalog import EVENT_NAMES, FALLBACK_INDEX, SIGN_IN_INDEX, feature_cdf_by_tier
from cs_warehouse.simulate.plans import TIERS

# Users: propensity to be active is lognormal around 1 per user; SKEWED_USER_SHARE of users have a
# device clock off by SKEW_SECONDS_RANGE seconds (either direction).
USER_PROPENSITY_SIGMA = 0.5
MAX_DAILY_ACTIVE_PROBABILITY = 0.95
SKEWED_USER_SHARE = 0.03
SKEW_SECONDS_RANGE = (5 * 60, 6 * HOUR_SECONDS)
# Sessions start around mid-afternoon UTC; calls within a session are this many seconds apart on average.
SESSION_START_HOUR_MEAN = 14.5
SESSION_START_HOUR_SD = 2.5
SECONDS_BETWEEN_CALLS = 75.0
# Delivery: sentAt follows timestamp by up to SEND_DELAY_MAX seconds, receivedAt follows sentAt by
# up to RECEIVE_DELAY_MAX seconds.
SEND_DELAY_MAX = 5.0
RECEIVE_DELAY_MAX = 0.8
DUPLICATE_SHARE = 0.007
DUPLICATE_DELAY_SECONDS = (1, 6 * HOUR_SECONDS)
LATE_SHARE = 0.006
LATE_DELAY_DAYS = (1, 15)
SEGMENT_LIBRARY = '{"name":"analytics.js","version":"2.11.1"}'

CALL_TYPES = ("track", "identify", "group")
TRACK, IDENTIFY, GROUP = range(3)


@dataclass
class UsageInputs:
    """Per-account arrays the event generator reads; built from the simulated account histories."""

    account_ids: list[str]
    account_traits: list[str]  # JSON text of each account's group traits, without the plan
    active_probability: np.ndarray  # [accounts, days] float32: chance a seat holder is active that weekday
    calls_per_session: np.ndarray  # [accounts, months] mean feature calls per session
    seats: np.ndarray  # [accounts, months] seat holders who may use the product that month
    tiers: np.ndarray  # [accounts, months] tier index, -1 without a subscription
    signup_day: np.ndarray  # [accounts] day index of signup (fractional)
    adoption_day: np.ndarray  # [accounts, event names] days after signup when the account starts using each


class UserDirectory:
    """Every product user: a fixed pool per account sized by the account's peak seat count."""

    def __init__(self, inputs: UsageInputs, rng: np.random.Generator) -> None:
        pool = np.maximum(inputs.seats.max(axis=1), 1).astype(np.int64)
        self.offset = np.concatenate([[0], np.cumsum(pool)])
        total = int(self.offset[-1])
        self.account = np.repeat(np.arange(len(pool)), pool)
        self.number = np.arange(total) - self.offset[self.account]
        self.propensity = rng.lognormal(-USER_PROPENSITY_SIGMA ** 2 / 2, USER_PROPENSITY_SIGMA, total)
        skewed = rng.random(total) < SKEWED_USER_SHARE
        magnitude = rng.uniform(*SKEW_SECONDS_RANGE, total)
        sign = np.where(rng.random(total) < 0.5, -1.0, 1.0)
        self.skew_ms = np.where(skewed, sign * magnitude * 1000, 0).astype(np.int64)
        self.identified = np.zeros(total, dtype=bool)
        self.user_id_array = pa.array(
            [f"usr_{a + 1:06d}_{n + 1:03d}" for a, n in zip(self.account.tolist(), self.number.tolist())]
        )
        roles = np.array(["admin", "analyst", "manager", "viewer"])
        self.roles = roles[np.where(self.number == 0, 0, 1 + rng.integers(0, 3, total))]


def _ms_to_iso(ms: np.ndarray) -> pa.Array:
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")
    return pa.array(np.char.add(text, "Z"))


def _hex_ids(rng: np.random.Generator, count: int) -> pa.Array:
    """Random 32-hex-digit ids, built directly as an Arrow string array."""
    data = rng.bytes(16 * count).hex().encode()
    offsets = np.arange(0, 32 * count + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


@dataclass
class Calls:
    """Calls as columns; times are Unix milliseconds."""

    call_type: np.ndarray
    event: np.ndarray  # index into EVENT_NAMES, -1 for identify and group
    user: np.ndarray  # index into UserDirectory
    account: np.ndarray
    month: np.ndarray  # month the call was generated in, which sets its plan and session id
    session: np.ndarray  # session number within that month, for properties.session_id
    timestamp: np.ndarray
    sent_at: np.ndarray
    received_at: np.ndarray
    message_id: pa.Array

    def take(self, index: np.ndarray) -> Calls:
        return Calls(
            *(getattr(self, name)[index] for name in NUMERIC_FIELDS),
            message_id=self.message_id.take(pa.array(index, type=pa.int64())),
        )

    def __len__(self) -> int:
        return len(self.call_type)


NUMERIC_FIELDS = ("call_type", "event", "user", "account", "month", "session", "timestamp", "sent_at", "received_at")


def concat_calls(parts: list[Calls]) -> Calls:
    return Calls(
        *(np.concatenate([getattr(p, name) for p in parts]) for name in NUMERIC_FIELDS),
        message_id=pa.concat_arrays([p.message_id for p in parts]),
    )


def sort_by_receipt(calls: Calls) -> Calls:
    """Order calls by receivedAt, then messageId, the order of every events file."""
    keys = pa.table({"received_at": calls.received_at, "message_id": calls.message_id})
    order = pc.sort_indices(keys, sort_keys=[("received_at", "ascending"), ("message_id", "ascending")])
    return calls.take(order.to_numpy())


class EventGenerator:
    """Generate each month's calls; `month_calls` must be called for months 0, 1, 2, ... in order."""

    def __init__(self, calendar: Calendar, inputs: UsageInputs, seed: int) -> None:
        self.calendar = calendar
        self.inputs = inputs
        self.seed = seed
        self.users = UserDirectory(inputs, np.random.default_rng([seed, 2]))
        self.month_first_days = calendar.month_first_days()
        weekday = calendar.weekday_of_day()
        self.weekday_factor = np.where(weekday >= 5, WEEKEND_ACTIVITY_FACTOR, 1.0).astype(np.float32)
        self.cdf_by_tier = feature_cdf_by_tier(len(TIERS))

    def month_calls(self, month: int) -> Calls:
        rng = np.random.default_rng([self.seed, 3, month])
        inputs, users = self.inputs, self.users
        first_day, next_day = int(self.month_first_days[month]), int(self.month_first_days[month + 1])

        # Seat holders of accounts with access this month.
        probability = inputs.active_probability[:, first_day:next_day]
        seats = np.where(probability.max(axis=1) > 0, inputs.seats[:, month], 0)
        holder_account = np.repeat(np.arange(len(seats)), seats)
        holder_user = users.offset[holder_account] + (np.arange(len(holder_account)) - np.repeat(np.cumsum(seats) - seats, seats))

        # Sessions: one per active user-day.
        chance = probability[holder_account] * self.weekday_factor[first_day:next_day]
        chance = np.minimum(chance * users.propensity[holder_user, None].astype(np.float32), MAX_DAILY_ACTIVE_PROBABILITY)
        holder_index, day_offset = np.nonzero(rng.random(chance.shape, dtype=np.float32) < chance)
        session_account = holder_account[holder_index]
        session_user = holder_user[holder_index]
        session_day = first_day + day_offset
        start_hours = np.clip(rng.normal(SESSION_START_HOUR_MEAN, SESSION_START_HOUR_SD, len(session_day)), 0.2, 23.0)
        session_start = (self.calendar.start_epoch + session_day * DAY_SECONDS + start_hours * HOUR_SECONDS) * 1000

        # Calls per session: the sign-in, then feature calls.
        feature_calls = rng.poisson(inputs.calls_per_session[session_account, month])
        calls_per_session = 1 + feature_calls
        session_of_call = np.repeat(np.arange(len(session_day)), calls_per_session)
        first_call = np.cumsum(calls_per_session) - calls_per_session
        position = np.arange(len(session_of_call)) - first_call[session_of_call]
        gaps = rng.exponential(SECONDS_BETWEEN_CALLS * 1000, len(session_of_call))
        gaps[position == 0] = 0
        elapsed = np.cumsum(gaps)
        elapsed -= elapsed[first_call][session_of_call]
        call_time = (session_start[session_of_call] + elapsed).astype(np.int64)
        call_account = session_account[session_of_call]
        event = self._draw_events(rng, call_account, session_day[session_of_call], month)
        event[position == 0] = SIGN_IN_INDEX

        track = self._calls(rng, month, TRACK, event, session_user[session_of_call], call_account, session_of_call, call_time)
        identify = self._identify_calls(rng, month, session_user, session_account, session_start)
        group = self._group_calls(rng, month, session_user, session_account, session_start)
        return concat_calls([track, identify, group])

    def _draw_events(self, rng: np.random.Generator, account: np.ndarray, day: np.ndarray, month: int) -> np.ndarray:
        """Draw feature calls by tier, falling back to the dashboard before the account adopts the drawn one."""
        inputs = self.inputs
        tier = np.maximum(inputs.tiers[account, month], 0)
        draw = rng.random(len(account))
        event = np.empty(len(account), dtype=np.int64)
        for tier_index, cdf in enumerate(self.cdf_by_tier):
            mask = tier == tier_index
            event[mask] = np.minimum(np.searchsorted(cdf, draw[mask], side="right"), len(EVENT_NAMES) - 1)
        adopted_from = inputs.signup_day[account] + inputs.adoption_day[account, event]
        event[day < adopted_from] = FALLBACK_INDEX
        return event

    def _calls(self, rng: np.random.Generator, month: int, call_type: int, event: np.ndarray, user: np.ndarray,
               account: np.ndarray, session: np.ndarray, time_ms: np.ndarray) -> Calls:
        """Stamp calls with clock skew, send and receive delays, and message ids."""
        count = len(event)
        timestamp = time_ms + self.users.skew_ms[user]
        sent_at = timestamp + (rng.random(count) * SEND_DELAY_MAX * 1000).astype(np.int64)
        received_at = time_ms + (sent_at - timestamp) + (rng.random(count) * RECEIVE_DELAY_MAX * 1000).astype(np.int64) + 1
        return Calls(np.full(count, call_type, dtype=np.int64), event, user, account,
                     np.full(count, month, dtype=np.int64), session, timestamp, sent_at, received_at,
                     _hex_ids(rng, count))

    def _identify_calls(self, rng: np.random.Generator, month: int, session_user: np.ndarray, session_account: np.ndarray,
                        session_start: np.ndarray) -> Calls:
        order = np.lexsort((session_start, session_user))
        users, first = np.unique(session_user[order], return_index=True)
        new = ~self.users.identified[users]
        chosen = order[first[new]]
        self.users.identified[users[new]] = True
        return self._calls(rng, month, IDENTIFY, np.full(len(chosen), -1), session_user[chosen], session_account[chosen],
                           chosen, session_start[chosen].astype(np.int64) - 2000)

    def _group_calls(self, rng: np.random.Generator, month: int, session_user: np.ndarray, session_account: np.ndarray,
                     session_start: np.ndarray) -> Calls:
        order = np.lexsort((session_start, session_account))
        _, first = np.unique(session_account[order], return_index=True)
        chosen = order[first]
        return self._calls(rng, month, GROUP, np.full(len(chosen), -1), session_user[chosen], session_account[chosen],
                           chosen, session_start[chosen].astype(np.int64) - 1000)

    def add_delivery_defects(self, calls: Calls, month: int) -> Calls:
        """Delay some calls by days and append duplicates of others received later."""
        rng = np.random.default_rng([self.seed, 4, month])
        count = len(calls)
        late = rng.random(count) < LATE_SHARE
        delay = (rng.uniform(*LATE_DELAY_DAYS, count) * DAY_SECONDS * 1000).astype(np.int64)
        calls.sent_at = np.where(late, calls.sent_at + delay, calls.sent_at)
        calls.received_at = np.where(late, calls.received_at + delay, calls.received_at)

        duplicate_index = np.nonzero(rng.random(count) < DUPLICATE_SHARE)[0]
        duplicates = calls.take(duplicate_index)
        duplicates.received_at = duplicates.received_at + (
            rng.uniform(*DUPLICATE_DELAY_SECONDS, len(duplicate_index)) * 1000).astype(np.int64)
        return concat_calls([calls, duplicates])


def calls_to_json_lines(calls: Calls, users: UserDirectory, inputs: UsageInputs) -> pa.Array:
    """Render calls, in their order, as Segment JSON lines that each end in a newline."""
    bodies, positions = [], []
    for call_type in (TRACK, IDENTIFY, GROUP):
        index = np.nonzero(calls.call_type == call_type)[0]
        bodies.append(_json_body(calls.take(index), call_type, users, inputs))
        positions.append(index)
    # Put the per-type bodies back in call order: row k of the concatenation belongs at order[k].
    order = np.concatenate(positions)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    body = pa.concat_arrays(bodies).take(pa.array(inverse, type=pa.int64()))
    account_ids = _account_ids(calls, inputs)
    return pc.binary_join_element_wise(
        '{"messageId":"', calls.message_id, '","type":"', pa.array(np.array(CALL_TYPES)[calls.call_type]), '"',
        body, ',"context":{"library":', SEGMENT_LIBRARY, ',"groupId":"', account_ids, '"},"timestamp":"',
        _ms_to_iso(calls.timestamp), '","sentAt":"', _ms_to_iso(calls.sent_at), '","receivedAt":"',
        _ms_to_iso(calls.received_at), '"}\n', "",
    )


def _user_ids(calls: Calls, users: UserDirectory) -> pa.Array:
    return users.user_id_array.take(pa.array(calls.user, type=pa.int64()))


def _account_ids(calls: Calls, inputs: UsageInputs) -> pa.Array:
    return pa.array(inputs.account_ids).take(pa.array(calls.account, type=pa.int64()))


def _plans(calls: Calls, inputs: UsageInputs) -> pa.Array:
    return pa.array(np.array([*TIERS, "none"])[inputs.tiers[calls.account, calls.month]])


def _session_ids(calls: Calls) -> pa.Array:
    months = pa.array(calls.month).cast(pa.string())
    sessions = pa.array(calls.session).cast(pa.string())
    return pc.binary_join_element_wise("m", months, "-", sessions, "")


def _json_body(calls: Calls, call_type: int, users: UserDirectory, inputs: UsageInputs) -> pa.Array:
    """Render the type-specific middle of each call: event, ids, and properties or traits."""
    user_ids = _user_ids(calls, users)
    identity = [',"userId":"', user_ids, '","groupId":"', _account_ids(calls, inputs), '"']
    if call_type == TRACK:
        event_names = pa.array(np.array(EVENT_NAMES)[calls.event])
        parts = [',"event":"', event_names, '"', *identity, ',"properties":{"plan":"', _plans(calls, inputs),
                 '","session_id":"', _session_ids(calls), '"}']
    elif call_type == IDENTIFY:
        parts = [*identity, ',"traits":{"email":"', user_ids, '@example.com","role":"',
                 pa.array(users.roles[calls.user]), '"}']
    else:
        # Account traits are a JSON object without its closing brace, which the plan closes.
        traits = pa.array(inputs.account_traits).take(pa.array(calls.account, type=pa.int64()))
        parts = [*identity, ',"traits":', traits, ',"plan":"', _plans(calls, inputs), '"}']
    if len(calls) == 0:
        return pa.array([], type=pa.string())
    return pc.binary_join_element_wise(*parts, "")


def calls_to_table(calls: Calls, users: UserDirectory, inputs: UsageInputs) -> pa.Table:
    """Render calls as a Parquet-ready table: Segment field names, nested objects as JSON text."""
    user_ids = _user_ids(calls, users)
    account_ids = _account_ids(calls, inputs)
    plans = _plans(calls, inputs)
    is_track = pa.array(calls.call_type == TRACK)
    is_identify = pa.array(calls.call_type == IDENTIFY)
    properties = pc.binary_join_element_wise('{"plan":"', plans, '","session_id":"', _session_ids(calls), '"}', "")
    identify_traits = pc.binary_join_element_wise('{"email":"', user_ids, '@example.com","role":"',
                                                  pa.array(users.roles[calls.user]), '"}', "")
    account_traits = pa.array(inputs.account_traits).take(pa.array(calls.account, type=pa.int64()))
    group_traits = pc.binary_join_element_wise(account_traits, ',"plan":"', plans, '"}', "")
    null_text = pa.nulls(len(calls), pa.string())
    context = pc.binary_join_element_wise('{"library":', SEGMENT_LIBRARY, ',"groupId":"', account_ids, '"}', "")

    def timestamps(ms: np.ndarray) -> pa.Array:
        return pa.array(ms.astype("datetime64[ms]"), type=pa.timestamp("ms", tz="UTC"))

    return pa.table({
        "messageId": calls.message_id,
        "type": pa.array(np.array(CALL_TYPES)[calls.call_type]),
        "event": pc.if_else(is_track, pa.array(np.array([*EVENT_NAMES, ""])[calls.event]), null_text),
        "userId": user_ids,
        "anonymousId": null_text,
        "groupId": account_ids,
        "properties": pc.if_else(is_track, properties, null_text),
        "traits": pc.if_else(is_track, null_text, pc.if_else(is_identify, identify_traits, group_traits)),
        "context": context,
        "timestamp": timestamps(calls.timestamp),
        "sentAt": timestamps(calls.sent_at),
        "receivedAt": timestamps(calls.received_at),
    })
