"""CRM rows of one account: contacts, support tickets, NPS responses and CS activities, driven by health."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cs_warehouse.simulate.behaviour import AccountProfile, pick, sigmoid
from cs_warehouse.simulate.calendar import DAY_SECONDS, HOUR_SECONDS, iso

CSM_TEAMS = ("enterprise", "mid_market", "scale")
CSM_FIRST_NAMES = ("Ada", "Bruno", "Chen", "Dana", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jonas", "Kemi",
                   "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara")
CSM_LAST_NAMES = ("Alvarez", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
                  "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov")
CONTACT_ROLES = ("admin", "executive sponsor", "end user", "end user", "finance", "it")
CONTACTS_PER_ACCOUNT = (2, 6)
CONTACT_ADDED_MONTHLY = 0.05
CONTACT_LEAVES_MONTHLY = 0.006

# Tickets per month: Poisson with mean TICKET_RATE_BASE + TICKET_RATE_HEALTH * sigmoid(-health),
# times a size factor (seats ** TICKET_SEAT_EXPONENT).
TICKET_RATE_BASE = 0.15
TICKET_RATE_HEALTH = 1.4
TICKET_SEAT_EXPONENT = 0.3
TICKET_CATEGORIES = ("how-to", "bug", "billing", "integration", "feature request", "account access")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
FIRST_RESPONSE_MEAN_HOURS = {"low": 20.0, "normal": 8.0, "high": 3.0, "urgent": 1.0}
RESOLUTION_MEAN_DAYS = {"low": 5.0, "normal": 3.0, "high": 2.0, "urgent": 1.0}
TICKET_CLOSED_AFTER_DAYS = 4
CSAT_RATED_SHARE = 0.55

# NPS: surveys go out every NPS_SURVEY_EVERY_MONTHS months of tenure; each current contact answers
# with NPS_RESPONSE_SHARE. Score = NPS_SCORE_CENTER + NPS_SCORE_HEALTH_WEIGHT * health + noise.
NPS_SURVEY_EVERY_MONTHS = 6
NPS_FIRST_SURVEY_MONTH = 3
NPS_RESPONSE_SHARE = 0.4
NPS_SCORE_CENTER = 7.2
NPS_SCORE_HEALTH_WEIGHT = 1.8
NPS_SCORE_NOISE = 1.4
NPS_COMMENTS = {
    "detractor": ("Too many bugs lately.", "Support is slow to respond.", "Hard to justify the price.",
                  "We are evaluating other tools.", ""),
    "passive": ("Does the job.", "Reporting could be better.", "", "Onboarding took a while."),
    "promoter": ("Our team relies on it every day.", "Great support team.", "", "Dashboards save us hours."),
}

# CS activities per month by segment, plus extra touches when health is low.
ACTIVITIES_PER_MONTH = {"enterprise": 4.0, "mid_market": 1.6, "smb": 0.4}
RISK_ACTIVITIES_PER_MONTH = 1.2
ACTIVITY_TYPES = ("call", "email", "meeting", "note")
ACTIVITY_TYPE_WEIGHTS = (0.3, 0.4, 0.15, 0.15)
BUSINESS_REVIEW_SEGMENTS = ("enterprise", "mid_market")
COMPETITOR_MENTION_BASE = 0.02
COMPETITOR_MENTION_RISK = 0.35


@dataclass
class CrmRecords:
    """One account's CRM rows, as CSV-ready dicts keyed by contract column name."""

    contacts: list[dict] = field(default_factory=list)
    tickets: list[dict] = field(default_factory=list)
    nps_responses: list[dict] = field(default_factory=list)
    activities: list[dict] = field(default_factory=list)


def build_csms(count: int) -> list[dict]:
    rng = np.random.default_rng(count)
    rows = []
    for index in range(count):
        name = f"{CSM_FIRST_NAMES[index % len(CSM_FIRST_NAMES)]} {CSM_LAST_NAMES[int(rng.integers(len(CSM_LAST_NAMES)))]}"
        rows.append({"csm_id": f"csm_{index + 1:03d}", "name": name, "team": CSM_TEAMS[index % len(CSM_TEAMS)]})
    return rows


class CrmGenerator:
    """Write one account's CRM rows month by month from its current health."""

    def __init__(self, profile: AccountProfile, rng: np.random.Generator, end_epoch: int) -> None:
        self.profile = profile
        self.rng = rng
        self.end_epoch = end_epoch
        self.records = CrmRecords()
        self.champion: dict | None = None
        self.latest_nps: int | None = None

    def _next_id(self, prefix: str, rows: list[dict]) -> str:
        return f"{prefix}_{self.profile.index + 1:06d}_{len(rows) + 1:04d}"

    def add_contact(self, at: int, is_champion: bool) -> dict:
        contacts = self.records.contacts
        contact_id = self._next_id("con", contacts)
        role = "admin" if is_champion else pick(self.rng, CONTACT_ROLES)
        contact = {
            "contact_id": contact_id,
            "account_id": self.profile.account_id,
            "email": f"{contact_id}@{self.profile.name.split(' ')[0].lower()}.example.com",
            "role": role,
            "is_champion": "true" if is_champion else "false",
            "created_at": at,
            "left_at": None,
        }
        contacts.append(contact)
        if is_champion:
            self.champion = contact
        return contact

    def onboard(self, at: int) -> None:
        """Add the account's first contacts, one of them its champion."""
        self.add_contact(at, is_champion=True)
        low, high = CONTACTS_PER_ACCOUNT
        for _ in range(int(self.rng.integers(low, high + 1)) - 1):
            self.add_contact(at + int(self.rng.integers(0, 3 * DAY_SECONDS)), is_champion=False)

    def current_contacts(self) -> list[dict]:
        return [c for c in self.records.contacts if c["left_at"] is None]

    def champion_leaves(self, at: int) -> None:
        if self.champion is not None and self.champion["left_at"] is None:
            self.champion["left_at"] = at

    def month(self, start: int, end: int, health: float, seats: int, tenure_months: int, is_customer: bool) -> int:
        """Write the month's tickets, NPS responses, activities and contact changes; return the ticket count."""
        if not is_customer:
            return 0
        rng = self.rng
        for contact in self.current_contacts():
            if contact["is_champion"] != "true" and rng.random() < CONTACT_LEAVES_MONTHLY:
                contact["left_at"] = start + int(rng.integers(0, end - start))
        if rng.random() < CONTACT_ADDED_MONTHLY:
            self.add_contact(start + int(rng.integers(0, end - start)), is_champion=False)

        ticket_count = self._tickets(start, end, health, seats)
        if tenure_months >= NPS_FIRST_SURVEY_MONTH and (
                tenure_months - NPS_FIRST_SURVEY_MONTH) % NPS_SURVEY_EVERY_MONTHS == 0:
            self._nps_survey(start, end, health)
        self._activities(start, end, health, tenure_months)
        return ticket_count

    def _tickets(self, start: int, end: int, health: float, seats: int) -> int:
        rng = self.rng
        rate = (TICKET_RATE_BASE + TICKET_RATE_HEALTH * sigmoid(-health)) * max(seats, 1) ** TICKET_SEAT_EXPONENT
        count = int(rng.poisson(rate))
        urgent_weight = sigmoid(-health - 0.5)
        priority_weights = (0.3, 0.5, 0.15 + 0.2 * urgent_weight, 0.05 + 0.15 * urgent_weight)
        for _ in range(count):
            created = start + int(rng.integers(0, end - start))
            priority = pick(rng, TICKET_PRIORITIES, priority_weights)
            first_response = created + int(rng.exponential(FIRST_RESPONSE_MEAN_HOURS[priority]) * HOUR_SECONDS) + 60
            resolved = first_response + int(rng.exponential(RESOLUTION_MEAN_DAYS[priority]) * DAY_SECONDS)
            ticket = {
                "ticket_id": self._next_id("tkt", self.records.tickets),
                "account_id": self.profile.account_id,
                "created_at": created,
                "first_response_at": None,
                "resolved_at": None,
                "priority": priority,
                "status": "new",
                "category": pick(rng, TICKET_CATEGORIES),
                "csat": None,
            }
            if first_response < self.end_epoch:
                ticket["first_response_at"] = first_response
                ticket["status"] = pick(rng, ("open", "pending"))
            if resolved < self.end_epoch:
                ticket["resolved_at"] = resolved
                ticket["status"] = "closed" if resolved + TICKET_CLOSED_AFTER_DAYS * DAY_SECONDS < self.end_epoch else "solved"
                if rng.random() < CSAT_RATED_SHARE:
                    mean = 3.6 + 0.9 * health - 0.4 * (priority in ("high", "urgent"))
                    ticket["csat"] = int(np.clip(round(rng.normal(mean, 0.8)), 1, 5))
            self.records.tickets.append(ticket)
        return count

    def _nps_survey(self, start: int, end: int, health: float) -> None:
        rng = self.rng
        for contact in self.current_contacts():
            if rng.random() >= NPS_RESPONSE_SHARE:
                continue
            score = int(np.clip(round(rng.normal(NPS_SCORE_CENTER + NPS_SCORE_HEALTH_WEIGHT * health, NPS_SCORE_NOISE)),
                                0, 10))
            band = "promoter"
            if score <= 6:
                band = "detractor"
            elif score <= 8:
                band = "passive"
            self.records.nps_responses.append({
                "response_id": self._next_id("nps", self.records.nps_responses),
                "account_id": self.profile.account_id,
                "contact_id": contact["contact_id"],
                "score": score,
                "comment": pick(rng, NPS_COMMENTS[band]),
                "answered_at": start + int(rng.integers(0, end - start)),
            })
            self.latest_nps = score

    def _activities(self, start: int, end: int, health: float, tenure_months: int) -> None:
        rng = self.rng
        risk = sigmoid(-2.0 * health - 1.0)
        count = int(rng.poisson(ACTIVITIES_PER_MONTH[self.profile.segment] + RISK_ACTIVITIES_PER_MONTH * risk))
        kinds = [pick(rng, ACTIVITY_TYPES, ACTIVITY_TYPE_WEIGHTS) for _ in range(count)]
        if self.profile.segment in BUSINESS_REVIEW_SEGMENTS and tenure_months % 3 == 2:
            kinds.append("business_review")
        for kind in kinds:
            spoken = kind in ("call", "meeting", "business_review")
            mentioned = spoken and rng.random() < COMPETITOR_MENTION_BASE + COMPETITOR_MENTION_RISK * risk
            self.records.activities.append({
                "activity_id": self._next_id("act", self.records.activities),
                "account_id": self.profile.account_id,
                "csm_id": self.profile.csm_id,
                "activity_type": kind,
                "occurred_at": start + int(rng.integers(0, end - start)),
                "competitor_mentioned": "true" if mentioned else "false",
            })

    def competitor_mentioned_since(self, since: int) -> bool:
        return any(a["competitor_mentioned"] == "true" and a["occurred_at"] >= since for a in self.records.activities)


def csv_row(row: dict) -> dict:
    """Render epoch-second values of a CRM row as ISO-8601 text and None as empty."""
    rendered = {}
    for key, value in row.items():
        if key.endswith("_at"):
            rendered[key] = iso(value)
        elif value is None:
            rendered[key] = ""
        else:
            rendered[key] = value
    return rendered


