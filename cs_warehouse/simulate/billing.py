"""Stripe-shaped billing records of one account: customer, subscriptions, their change events, invoices, credit notes.

Every change to a subscription goes through `BillingLedger.change`, which records one
customer.subscription.* event whose data.object is the full subscription after the change and whose
data.previous_attributes contains the top-level fields it replaced. So the last event of a subscription
always equals its final state, which is what the subscriptions snapshot file contains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cs_warehouse.simulate.calendar import HOUR_SECONDS
from cs_warehouse.simulate.plans import Price

STRIPE_API_VERSION = "2024-06-20"
ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LIVE_STATUSES = ("trialing", "active", "past_due", "paused")


def stripe_id(prefix: str, rng: np.random.Generator, length: int = 14) -> str:
    return prefix + "_" + "".join([ID_ALPHABET[i] for i in rng.integers(0, len(ID_ALPHABET), length).tolist()])


@dataclass
class SubscriptionItem:
    id: str
    price: Price
    quantity: int
    created: int


@dataclass
class Subscription:
    """A subscription's current state; `to_stripe` renders it as the Stripe object."""

    id: str
    customer: str
    account_id: str
    currency: str
    created: int
    items: list[SubscriptionItem]
    status: str
    current_period_start: int
    current_period_end: int
    billing_cycle_anchor: int
    days_until_due: int
    is_addon: bool = False
    trial_start: int | None = None
    trial_end: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    discount: dict | None = None
    pause_collection: dict | None = None
    # Simulation bookkeeping, not part of the Stripe object.
    invoices_billed: int = 0
    pending_prorations: list[dict] = field(default_factory=list)
    renewal_decided_for: int | None = None

    @property
    def price(self) -> Price:
        return self.items[0].price

    @property
    def quantity(self) -> int:
        return self.items[0].quantity

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def to_stripe(self) -> dict:
        return {
            "id": self.id,
            "object": "subscription",
            "billing_cycle_anchor": self.billing_cycle_anchor,
            "cancel_at": self.cancel_at,
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "collection_method": "send_invoice",
            "created": self.created,
            "currency": self.currency,
            "current_period_end": self.current_period_end,
            "current_period_start": self.current_period_start,
            "customer": self.customer,
            "days_until_due": self.days_until_due,
            "discount": dict(self.discount) if self.discount else None,
            "ended_at": self.ended_at,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": item.id,
                        "object": "subscription_item",
                        "created": item.created,
                        "price": item.price.to_stripe(),
                        "quantity": item.quantity,
                        "subscription": self.id,
                    }
                    for item in self.items
                ],
                "has_more": False,
                "total_count": len(self.items),
            },
            "livemode": False,
            "metadata": {"account_id": self.account_id, "role": "add_on" if self.is_addon else "main"},
            "pause_collection": dict(self.pause_collection) if self.pause_collection else None,
            "start_date": self.created,
            "status": self.status,
            "trial_end": self.trial_end,
            "trial_start": self.trial_start,
        }


def invoice_line(rng: np.random.Generator, currency: str, price: Price, quantity: int, amount: int,
                 period_start: int, period_end: int, proration: bool, description: str) -> dict:
    return {
        "id": stripe_id("il", rng),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "period": {"start": period_start, "end": period_end},
        "price": price.to_stripe(),
        "proration": proration,
        "quantity": quantity,
        "type": "subscription",
    }


def discount_amount(discount: dict | None, subtotal: int, invoices_billed: int, at: int) -> int:
    """Discount a subscription's coupon takes off an invoice created at `at`, in minor units."""
    if not discount or subtotal <= 0:
        return 0
    coupon = discount["coupon"]
    if coupon["duration"] == "once" and invoices_billed > 0:
        return 0
    if coupon["duration"] == "repeating" and discount["end"] is not None and at >= discount["end"]:
        return 0
    if coupon["percent_off"] is not None:
        return int(round(subtotal * coupon["percent_off"] / 100.0))
    return min(int(coupon["amount_off"]), subtotal)


class BillingLedger:
    """Collects one account's billing records in the order they happen."""

    def __init__(self, account_id: str, rng: np.random.Generator) -> None:
        self.account_id = account_id
        self.rng = rng
        self.customer: dict | None = None
        self.subscriptions: list[Subscription] = []
        self.subscription_events: list[dict] = []
        self.invoices: list[dict] = []
        self.credit_notes: list[dict] = []

    def create_customer(self, name: str, currency: str, at: int) -> dict:
        domain = name.split(" ")[0].lower()
        self.customer = {
            "id": stripe_id("cus", self.rng),
            "object": "customer",
            "created": at,
            "currency": currency,
            "delinquent": False,
            "description": None,
            "email": f"billing@{domain}{self.account_id[-6:]}.example.com",
            "livemode": False,
            "metadata": {"account_id": self.account_id},
            "name": name,
        }
        return self.customer

    def _event(self, event_type: str, at: int, subscription: dict, previous: dict | None) -> None:
        data: dict = {"object": subscription}
        if previous is not None:
            data["previous_attributes"] = previous
        self.subscription_events.append({
            "id": stripe_id("evt", self.rng, 24),
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": at,
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        })

    def add_subscription(self, subscription: Subscription, at: int) -> None:
        self.subscriptions.append(subscription)
        self._event("customer.subscription.created", at, subscription.to_stripe(), None)

    def change(self, subscription: Subscription, at: int, mutate: Callable[[Subscription], None],
               event_type: str = "customer.subscription.updated") -> None:
        """Apply `mutate` to the subscription and record the event describing the change."""
        before = subscription.to_stripe()
        mutate(subscription)
        after = subscription.to_stripe()
        if event_type == "customer.subscription.deleted":
            self._event(event_type, at, after, None)
            return
        previous = {key: before[key] for key in after if before.get(key) != after[key]}
        self._event(event_type, at, after, previous)

    def create_invoice(self, subscription: Subscription, at: int, billing_reason: str,
                       lines: list[dict], void: bool) -> dict:
        """Create and finalize an invoice for `lines`, applying the subscription's coupon."""
        subtotal = sum(line["amount"] for line in lines)
        discount = discount_amount(subscription.discount, subtotal, subscription.invoices_billed, at)
        total = subtotal - discount
        amount_due = max(total, 0)
        finalized_at = at + HOUR_SECONDS
        invoice = {
            "id": stripe_id("in", self.rng),
            "object": "invoice",
            "amount_due": amount_due,
            "amount_paid": 0,
            "amount_remaining": amount_due,
            "billing_reason": billing_reason,
            "collection_method": "send_invoice",
            "created": at,
            "currency": subscription.currency,
            "customer": subscription.customer,
            "due_date": at + subscription.days_until_due * 86_400,
            "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines)},
            "livemode": False,
            "metadata": {"account_id": self.account_id},
            "paid": False,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "period_start": min(line["period"]["start"] for line in lines),
            "period_end": max(line["period"]["end"] for line in lines),
            "status": "open",
            "status_transitions": {
                "finalized_at": finalized_at,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subscription": subscription.id,
            "subtotal": subtotal,
            "total": total,
            "total_discount_amount": discount,
            "total_discount_amounts": (
                [{"amount": discount, "discount": subscription.discount["id"]}] if discount else []
            ),
        }
        if subtotal > 0:
            subscription.invoices_billed += 1
        if void:
            invoice["status"] = "void"
            invoice["amount_remaining"] = 0
            invoice["status_transitions"]["voided_at"] = finalized_at
        elif amount_due == 0:
            self.mark_paid(invoice, finalized_at)
        self.invoices.append(invoice)
        return invoice

    @staticmethod
    def mark_paid(invoice: dict, at: int) -> None:
        invoice["status"] = "paid"
        invoice["paid"] = True
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["paid_at"] = at

    @staticmethod
    def mark_uncollectible(invoice: dict, at: int) -> None:
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = at

    def credit_note(self, invoice: dict, at: int, amount: int, reason: str, credit_type: str) -> dict:
        note = {
            "id": stripe_id("cn", self.rng),
            "object": "credit_note",
            "amount": amount,
            "created": at,
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "invoice": invoice["id"],
            "livemode": False,
            "memo": None,
            "reason": reason,
            "status": "issued",
            "type": credit_type,
        }
        self.credit_notes.append(note)
        return note
