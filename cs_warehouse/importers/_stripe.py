"""Builders of Stripe-shaped objects (customer, price, subscription, subscription event).

Only the fields the landing contract reads are filled, plus `object` and `metadata`, which Stripe
exports carry and ingestion keeps in `_extra`. Times are aware datetimes, written as Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cs_warehouse.importers._landing import billing_period, to_epoch


def customer_object(customer_id: str, account_id: str, name: str, currency: str, created: datetime) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "name": name,
        "email": None,
        "currency": currency,
        "delinquent": False,
        "created": to_epoch(created),
        "metadata": {"account_id": account_id},
    }


def price_object(
    price_id: str,
    product_id: str,
    nickname: str,
    tier: str | None,
    unit_amount: int,
    currency: str,
    interval: str | None,
    interval_count: int | None,
    created: datetime,
) -> dict[str, Any]:
    recurring = None if interval is None else {"interval": interval, "interval_count": interval_count}
    return {
        "id": price_id,
        "object": "price",
        "product": product_id,
        "nickname": nickname,
        "unit_amount": unit_amount,
        "currency": currency,
        "recurring": recurring,
        "type": "one_time" if recurring is None else "recurring",
        "active": True,
        "created": to_epoch(created),
        "metadata": {"tier": tier},
    }


@dataclass(frozen=True)
class Subscription:
    """One subscription with a single item, from start to its end (None while it runs)."""

    subscription_id: str
    customer_id: str
    price_id: str
    quantity: int
    currency: str
    start: datetime
    # Months between bills: 1 for monthly, 12 for yearly, 24 for a two-year term.
    months_per_period: int
    # Scheduled end set when the subscription is created (a fixed term); None when open-ended.
    cancel_at: datetime | None = None
    # When the customer requested the cancellation that ended the subscription early.
    canceled_at: datetime | None = None
    ended_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def item_id(self) -> str:
        return "si_" + self.subscription_id.removeprefix("sub_")

    def state(self, at: datetime, ended: bool | None = None) -> dict[str, Any]:
        """Return the Stripe subscription object as it stood at `at`.

        `ended` defaults to whether ended_at is at or before `at`. The created event passes False, so a
        subscription that ends the instant it starts is still created active.
        """
        if ended is None:
            ended = self.ended_at is not None and self.ended_at <= at
        # An ended subscription's last period is the one its end falls in (start < ended_at <= end).
        period_at = self.ended_at - timedelta(seconds=1) if ended and self.ended_at is not None else at
        period_start, period_end = billing_period(self.start, self.months_per_period, period_at)
        return {
            "id": self.subscription_id,
            "object": "subscription",
            "customer": self.customer_id,
            "status": "canceled" if ended else "active",
            "currency": self.currency,
            "created": to_epoch(self.start),
            "start_date": to_epoch(self.start),
            "trial_start": None,
            "trial_end": None,
            "current_period_start": to_epoch(period_start),
            "current_period_end": to_epoch(period_end),
            "cancel_at_period_end": False,
            "cancel_at": to_epoch(self.cancel_at if self.canceled_at is None or not ended else None),
            "canceled_at": to_epoch(self.canceled_at) if ended else None,
            "ended_at": to_epoch(self.ended_at) if ended else None,
            "discount": None,
            "pause_collection": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self.item_id,
                        "object": "subscription_item",
                        "price": {"id": self.price_id},
                        "quantity": self.quantity,
                    }
                ],
            },
            "metadata": self.metadata,
        }

    def change_events(self, event_prefix: str) -> list[dict[str, Any]]:
        """Return the customer.subscription.created event and, once ended, the .deleted event."""
        created_state = self.state(self.start, ended=False)
        events = [_event(f"{event_prefix}_created", "customer.subscription.created", self.start, created_state, None)]
        if self.ended_at is not None:
            ended_state = self.state(self.ended_at, ended=True)
            previous = {
                key: created_state[key]
                for key in ("status", "cancel_at", "canceled_at", "ended_at", "current_period_start",
                            "current_period_end")
                if created_state[key] != ended_state[key]
            }
            events.append(_event(f"{event_prefix}_deleted", "customer.subscription.deleted", self.ended_at,
                                 ended_state, previous))
        return events


def _event(event_id: str, event_type: str, created: datetime, state: dict[str, Any],
           previous_attributes: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"object": state}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {"id": event_id, "object": "event", "type": event_type, "created": to_epoch(created), "data": data}
