"""Accounts and their latent health: firmographics, how health evolves, and how it drives behaviour.

Each account has a hidden health value (about -2 to 2, higher is healthier) that follows a
mean-reverting random walk month by month. Health sets product usage, ticket volume, NPS, payment
behaviour, expansion and the monthly chance of asking to cancel. Shocks such as a champion leaving lower
it. The functions below are the only places where health turns into a rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cs_warehouse.simulate.calendar import DAY_SECONDS, Calendar
from cs_warehouse.simulate.plans import CURRENCIES, TIERS

# Firmographics.
COUNTRIES = ("US", "US", "US", "CA", "GB", "GB", "DE", "FR", "NL", "ES", "AU", "SE")
COUNTRY_CURRENCY = {"GB": "gbp", "DE": "eur", "FR": "eur", "NL": "eur", "ES": "eur"}
INDUSTRIES = ("software", "financial services", "healthcare", "retail", "manufacturing", "education",
              "media", "logistics", "professional services", "nonprofit")
SEGMENT_SHARES = {"smb": 0.6, "mid_market": 0.3, "enterprise": 0.1}
EMPLOYEE_RANGES = {"smb": (5, 200), "mid_market": (200, 2_000), "enterprise": (2_000, 50_000)}
STARTING_SEATS = {"smb": (2, 8), "mid_market": (5, 20), "enterprise": (15, 45)}
TIER_SHARES_BY_SEGMENT = {
    "smb": (0.65, 0.30, 0.05),
    "mid_market": (0.25, 0.55, 0.20),
    "enterprise": (0.05, 0.35, 0.60),
}
PLAN_SHARES_BY_SEGMENT = {  # monthly, quarterly, annual
    "smb": (0.75, 0.15, 0.10),
    "mid_market": (0.40, 0.25, 0.35),
    "enterprise": (0.15, 0.15, 0.70),
}

# Signups: this share of accounts signs up in the first month, the rest spread evenly over the
# history except its last SIGNUP_QUIET_DAYS.
FIRST_MONTH_SIGNUP_SHARE = 0.25
SIGNUP_QUIET_DAYS = 20
TRIAL_SHARE = 0.4
TRIAL_DAYS = 14
COUPON_SHARE = 0.18
COUPON_KINDS = ("WELCOME20", "FIRST50", "QUARTER15", "PARTNER10", "NONPROFIT25")
COUPON_KIND_WEIGHTS = (0.35, 0.15, 0.2, 0.2, 0.1)
ADDON_AT_SIGNUP_SHARE = {"smb": 0.02, "mid_market": 0.12, "enterprise": 0.2}

# Health: h[m+1] = mean + HEALTH_PERSISTENCE * (h[m] - mean) + HEALTH_NOISE * N(0, 1) + shocks.
HEALTH_MEAN_CENTER = 0.35
HEALTH_MEAN_SPREAD = 0.75
HEALTH_PERSISTENCE = 0.75
HEALTH_NOISE = 0.40
CHAMPION_LEAVES_MONTHLY = 0.015
CHAMPION_LOSS_HEALTH_SHOCK = 0.6

# Monthly chance of a cancellation request: logistic in these terms, which interact as churn does in
# practice. Among accounts that get value from the product (health above LOW_VALUE_HEALTH) the chance
# varies little with health. Below it, every unit of health lost adds LOW_VALUE_WEIGHT to the logit,
# because an account that does not use the product has no reason to renew. Losing the champion matters
# in proportion to how little the account uses the product: an entrenched account replaces its
# sponsor, a struggling one loses the last person arguing to keep it. A competitor mention weighs
# more in an account below the value threshold, which is actually evaluating the alternative. Plans
# billed every n months decide once, within RENEWAL_DECISION_DAYS of the renewal, with the n-month
# compounded chance, so their churn concentrates at renewal.
CANCEL_BASE_LOGIT = -4.3
CANCEL_HEALTH_WEIGHT = -0.5
LOW_VALUE_HEALTH = -0.3
CANCEL_LOW_VALUE_WEIGHT = 1.8
CANCEL_CHAMPION_LEFT_ENTRENCHED_WEIGHT = 0.2  # champion left, health well above LOW_VALUE_HEALTH
CANCEL_CHAMPION_LEFT_AT_RISK_WEIGHT = 2.0  # added as health falls below LOW_VALUE_HEALTH
CANCEL_COMPETITOR_WEIGHT = 0.6
CANCEL_COMPETITOR_LOW_VALUE_WEIGHT = 1.0  # added when health is below LOW_VALUE_HEALTH
CANCEL_TICKETS_WEIGHT = 0.25  # per ticket above TICKETS_NORMAL in the previous month
TICKETS_NORMAL = 2
CANCEL_DETRACTOR_WEIGHT = 0.7  # latest NPS at most 6
SIGNAL_MEMORY_DAYS = 120  # how long a champion loss or competitor mention keeps raising the chance
RENEWAL_DECISION_DAYS = 75
CANCEL_SAVED_SHARE = 0.15  # cancellation requests withdrawn before the period ends

TRIAL_CONVERSION_BASE_LOGIT = 0.6
TRIAL_CONVERSION_HEALTH_WEIGHT = 1.5
REACTIVATION_MONTHLY = 0.06
REACTIVATION_HEALTH_BOOST = 0.8

# Expansion and contraction, monthly chances.
SEAT_EXPANSION_MAX = 0.10  # reached by the healthiest accounts
SEAT_CONTRACTION_MAX = 0.05  # reached by the least healthy accounts
UPGRADE_MAX = 0.025
DOWNGRADE_MAX = 0.02
ADDON_LATER_MAX = 0.01
ADDON_CANCEL_MONTHLY = 0.04
PAUSE_MONTHLY = 0.03
PAUSE_MONTHS = (1, 2)

# Payments.
PAYMENT_LATE_BASE = 0.04
PAYMENT_LATE_HEALTH_MAX = 0.18
PAYMENT_RECOVERY_SHARE = 0.85
INVOICE_NET_DAYS = {"monthly": 14, "quarterly": 30, "annual": 30}
WRITE_OFF_AFTER_DUE_DAYS = 30
REFUND_PER_PAID_INVOICE = 0.015

# Product usage: chance that a seat holder is active on a weekday, and feature calls per session.
DAILY_ACTIVE_FLOOR = 0.04
DAILY_ACTIVE_RANGE = 0.27
WEEKEND_ACTIVITY_FACTOR = 0.15
FEATURE_CALLS_FLOOR = 0.6
FEATURE_CALLS_RANGE = 2.2
CANCEL_PENDING_USAGE_FACTOR = 0.4
PAUSED_USAGE_FACTOR = 0.1

NAME_PREFIXES = ("Acme", "Blue", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
                 "Kite", "Lumen", "Maple", "Nimbus", "Orbit", "Pioneer", "Quartz", "Ridge", "Summit", "Tidal",
                 "Umber", "Vertex", "Willow", "Xenon", "Yonder", "Zephyr")
NAME_SUFFIXES = ("Labs", "Systems", "Works", "Group", "Analytics", "Health", "Logistics", "Retail", "Capital",
                 "Media", "Foods", "Energy", "Partners", "Robotics", "Studio")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def pick(rng: np.random.Generator, options: Sequence[str], weights: Sequence[float] | None = None) -> str:
    """Draw one option, uniformly or by weights (which need not sum to 1); faster than Generator.choice."""
    if weights is None:
        return options[int(rng.integers(len(options)))]
    cumulative = np.cumsum(weights)
    return options[int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))]


@dataclass
class AccountProfile:
    """An account's attributes at signup, the starting point of its simulated history."""

    index: int
    account_id: str
    name: str
    industry: str
    country: str
    currency: str
    employee_count: int
    segment: str
    tier: str
    plan: str
    seats: int
    signup_at: int
    has_trial: bool
    coupon_kind: str | None
    has_addon_at_signup: bool
    csm_id: str
    health_mean: float
    health: float


def account_id(index: int) -> str:
    return f"acc_{index + 1:06d}"


def csm_count(accounts: int) -> int:
    return max(3, math.ceil(accounts / 60))


def draw_profile(index: int, calendar: Calendar, rng: np.random.Generator, csm_ids: list[str]) -> AccountProfile:
    """Draw one account's firmographics, plan choice and starting health."""
    segment = pick(rng, list(SEGMENT_SHARES), list(SEGMENT_SHARES.values()))
    low, high = EMPLOYEE_RANGES[segment]
    employee_count = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    country = pick(rng, COUNTRIES)
    currency = COUNTRY_CURRENCY.get(country, "usd")
    assert currency in CURRENCIES
    tier = pick(rng, TIERS, TIER_SHARES_BY_SEGMENT[segment])
    plan = pick(rng, ("monthly", "quarterly", "annual"), PLAN_SHARES_BY_SEGMENT[segment])
    seat_low, seat_high = STARTING_SEATS[segment]
    seats = int(rng.integers(seat_low, seat_high + 1))

    if rng.random() < FIRST_MONTH_SIGNUP_SHARE:
        signup_day = rng.uniform(0, 28)
    else:
        signup_day = rng.uniform(0, max(calendar.days - SIGNUP_QUIET_DAYS, 1))
    signup_at = calendar.start_epoch + int(signup_day * DAY_SECONDS)

    coupon_kind = None
    if rng.random() < COUPON_SHARE:
        coupon_kind = pick(rng, COUPON_KINDS, COUPON_KIND_WEIGHTS)

    health_mean = float(rng.normal(HEALTH_MEAN_CENTER, HEALTH_MEAN_SPREAD))
    name = f"{pick(rng, NAME_PREFIXES)} {pick(rng, NAME_SUFFIXES)} {index + 1}"
    return AccountProfile(
        index=index,
        account_id=account_id(index),
        name=name,
        industry=pick(rng, INDUSTRIES),
        country=country,
        currency=currency,
        employee_count=employee_count,
        segment=segment,
        tier=tier,
        plan=plan,
        seats=seats,
        signup_at=signup_at,
        has_trial=bool(rng.random() < TRIAL_SHARE),
        coupon_kind=coupon_kind,
        has_addon_at_signup=bool(rng.random() < ADDON_AT_SIGNUP_SHARE[segment]),
        csm_id=csm_ids[int(rng.integers(len(csm_ids)))],
        health_mean=health_mean,
        health=float(health_mean + rng.normal(0, HEALTH_NOISE)),
    )


def next_health(health: float, mean: float, rng: np.random.Generator) -> float:
    return mean + HEALTH_PERSISTENCE * (health - mean) + HEALTH_NOISE * float(rng.normal())


@dataclass
class RiskSignals:
    """Recent observable signals, besides health, that raise the chance of cancelling."""

    champion_left: bool = False
    competitor_mentioned: bool = False
    tickets_last_month: int = 0
    is_detractor: bool = False


def cancel_probability(health: float, signals: RiskSignals, months: int = 1) -> float:
    """Chance that the account requests cancellation of a subscription billed every `months` months."""
    shortfall = max(LOW_VALUE_HEALTH - health, 0.0)
    # About 0.04 at health 1, 0.5 at health 0.2, 0.88 at the value threshold and near 1 below it.
    at_risk = sigmoid(4.0 * (LOW_VALUE_HEALTH + 0.5 - health))
    logit = (
        CANCEL_BASE_LOGIT
        + CANCEL_HEALTH_WEIGHT * health
        + CANCEL_LOW_VALUE_WEIGHT * shortfall
        + signals.champion_left * (CANCEL_CHAMPION_LEFT_ENTRENCHED_WEIGHT + CANCEL_CHAMPION_LEFT_AT_RISK_WEIGHT * at_risk)
        + signals.competitor_mentioned * (CANCEL_COMPETITOR_WEIGHT + CANCEL_COMPETITOR_LOW_VALUE_WEIGHT * at_risk)
        + CANCEL_TICKETS_WEIGHT * max(signals.tickets_last_month - TICKETS_NORMAL, 0)
        + CANCEL_DETRACTOR_WEIGHT * signals.is_detractor
    )
    monthly = sigmoid(logit)
    return 1.0 - (1.0 - monthly) ** months


def trial_conversion_probability(health: float) -> float:
    return sigmoid(TRIAL_CONVERSION_BASE_LOGIT + TRIAL_CONVERSION_HEALTH_WEIGHT * health)


def seat_expansion_probability(health: float) -> float:
    return SEAT_EXPANSION_MAX * sigmoid(2.5 * (health - 0.8))


def seat_contraction_probability(health: float) -> float:
    return SEAT_CONTRACTION_MAX * sigmoid(-2.5 * (health + 0.3))


def upgrade_probability(health: float) -> float:
    return UPGRADE_MAX * sigmoid(2.5 * (health - 1.0))


def downgrade_probability(health: float) -> float:
    return DOWNGRADE_MAX * sigmoid(-2.5 * (health + 0.5))


def late_payment_probability(health: float) -> float:
    return PAYMENT_LATE_BASE + PAYMENT_LATE_HEALTH_MAX * sigmoid(-2.0 * (health + 0.5))


def daily_active_probability(health: np.ndarray) -> np.ndarray:
    """Chance that one seat holder uses the product on a weekday, by health (vectorised)."""
    return DAILY_ACTIVE_FLOOR + DAILY_ACTIVE_RANGE / (1.0 + np.exp(-2.0 * health))


def feature_calls_per_session(health: np.ndarray) -> np.ndarray:
    return FEATURE_CALLS_FLOOR + FEATURE_CALLS_RANGE / (1.0 + np.exp(-health))
