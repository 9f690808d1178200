"""The product's tracked events: the feature catalog CSV and how accounts come to use each feature.

An account starts using a feature some days after signup (its adoption lag). Before that, a draw of
the feature becomes a dashboard view instead. Healthier accounts adopt more features, and sooner, so
the time to the activation event and the breadth of feature use both follow health.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIGN_IN_EVENT = "Signed In"
FALLBACK_EVENT = "Dashboard Viewed"
ACTIVATION_EVENT = "Report Shared"


@dataclass(frozen=True)
class TrackedEvent:
    event_name: str
    feature_name: str | None
    is_premium: bool
    onboarding_task: str | None
    # Relative weight of the event among a session's calls once the account uses it.
    popularity: float
    # Mean days from signup until an account starts using it; an account never does with 1 - reach.
    adoption_lag_days: float
    reach: float


TRACKED_EVENTS = (
    TrackedEvent(SIGN_IN_EVENT, None, False, None, 0.0, 0.0, 1.0),
    TrackedEvent("Profile Completed", None, False, "complete_profile", 0.02, 1.0, 0.9),
    TrackedEvent(FALLBACK_EVENT, "dashboards", False, None, 6.0, 0.0, 1.0),
    TrackedEvent("Filter Applied", "dashboards", False, None, 4.0, 3.0, 0.95),
    TrackedEvent("Data Source Connected", "integrations", False, "connect_data_source", 0.4, 2.0, 0.9),
    TrackedEvent("Integration Synced", "integrations", False, None, 1.5, 10.0, 0.7),
    TrackedEvent("Report Created", "reports", False, "create_first_report", 2.5, 4.0, 0.9),
    TrackedEvent(ACTIVATION_EVENT, "reports", False, None, 1.2, 9.0, 0.85),
    TrackedEvent("Teammate Invited", "collaboration", False, "invite_teammate", 0.3, 5.0, 0.8),
    TrackedEvent("Comment Added", "collaboration", False, None, 2.0, 14.0, 0.7),
    TrackedEvent("Alert Created", "alerts", False, "set_up_alert", 0.6, 12.0, 0.6),
    TrackedEvent("Export Downloaded", "exports", False, None, 1.0, 20.0, 0.6),
    TrackedEvent("Search Performed", "search", False, None, 2.0, 2.0, 0.9),
    TrackedEvent("Custom Field Added", "customization", False, None, 0.3, 30.0, 0.4),
    TrackedEvent("Workflow Automated", "automation", True, None, 1.0, 30.0, 0.6),
    TrackedEvent("Forecast Run", "forecasting", True, None, 0.8, 45.0, 0.5),
    TrackedEvent("API Key Created", "api", True, None, 0.2, 25.0, 0.5),
    TrackedEvent("SSO Configured", "security", True, None, 0.05, 20.0, 0.6),
    TrackedEvent("Audit Log Viewed", "security", True, None, 0.4, 40.0, 0.4),
    TrackedEvent("Help Article Viewed", None, False, None, 0.5, 0.0, 1.0),
    TrackedEvent("Billing Page Viewed", None, False, None, 0.1, 0.0, 1.0),
)
EVENT_NAMES = tuple(e.event_name for e in TRACKED_EVENTS)
SIGN_IN_INDEX = EVENT_NAMES.index(SIGN_IN_EVENT)
FALLBACK_INDEX = EVENT_NAMES.index(FALLBACK_EVENT)
# Tiers (index into plans.TIERS) that include premium features.
PREMIUM_TIER_INDEXES = (2,)


def catalog_rows() -> list[dict]:
    return [
        {
            "event_name": e.event_name,
            "feature_name": e.feature_name or "",
            "is_feature": "true" if e.feature_name else "false",
            "is_premium": "true" if e.is_premium else "false",
            "is_activation": "true" if e.event_name == ACTIVATION_EVENT else "false",
            "onboarding_task": e.onboarding_task or "",
        }
        for e in TRACKED_EVENTS
    ]


def feature_cdf_by_tier(tier_count: int) -> np.ndarray:
    """Cumulative draw probabilities of each event name for a session's feature calls, one row per tier."""
    popularity = np.array([e.popularity for e in TRACKED_EVENTS])
    premium = np.array([e.is_premium for e in TRACKED_EVENTS])
    rows = []
    for tier in range(tier_count):
        weights = popularity if tier in PREMIUM_TIER_INDEXES else np.where(premium, 0.0, popularity)
        rows.append(np.cumsum(weights) / weights.sum())
    return np.array(rows)


def draw_adoption_days(health_mean: float, rng: np.random.Generator) -> np.ndarray:
    """Days after signup at which one account starts using each event name; infinity for never."""
    speed = float(np.exp(-0.5 * health_mean))  # healthier accounts adopt sooner
    reach_boost = 0.15 * np.tanh(health_mean)
    days = np.empty(len(TRACKED_EVENTS))
    for index, event in enumerate(TRACKED_EVENTS):
        reach = min(max(event.reach + reach_boost, 0.05), 1.0)
        if rng.random() >= reach:
            days[index] = np.inf
        else:
            days[index] = rng.exponential(event.adoption_lag_days * speed) if event.adoption_lag_days else 0.0
    return days
