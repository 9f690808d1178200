"""One account's whole history, simulated as a queue of dated actions.

Monthly ticks evolve the account's health, write its CRM month and decide what it does next
(cancel, change seats or tier, pause, buy or drop the add-on, come back after churning). Billing
actions (period ends, trial ends, payments, write-offs) are queued at their exact Unix second, so
every subscription's events come out in time order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from cs_warehouse.simulate import behaviour as b
from cs_warehouse.simulate.billing import BillingLedger, Subscription, SubscriptionItem, invoice_line, stripe_id
from cs_warehouse.simulate.calendar import DAY_SECONDS, HOUR_SECONDS, Calendar, add_months_epoch, from_epoch, iso
from cs_warehouse.simulate.crm import CrmGenerator, CrmRecords
from cs_warehouse.simulate.plans import ADDON_TIER, TIERS, Price, PriceBook, coupon

REFUND_REASONS = ("product_unsatisfactory", "duplicate", "order_change")
PRE_PAYMENT_CREDIT_SHARE = 0.15


@dataclass
class AccountHistory:
    """Everything one account produced, plus the timelines the event generator needs."""

    profile: b.AccountProfile
    ledger: BillingLedger
    crm: CrmRecords
    health_by_month: np.ndarray  # NaN before the account signs up
    # (Unix second, value) change points: usage factor 0-1, seats of the main subscription, tier index.
    usage_changes: list[tuple[int, float]] = field(default_factory=list)
    seat_changes: list[tuple[int, int]] = field(default_factory=list)
    tier_changes: list[tuple[int, int]] = field(default_factory=list)


class AccountSimulation:
    """Simulate one account from signup to the end of the history."""

    def __init__(self, profile: b.AccountProfile, calendar: Calendar, prices: PriceBook,
                 rng: np.random.Generator) -> None:
        self.profile = profile
        self.calendar = calendar
        self.prices = prices
        self.rng = rng
        self.end = calendar.end_epoch
        self.ledger = BillingLedger(profile.account_id, rng)
        self.crm = CrmGenerator(profile, rng, self.end)
        self.health = profile.health
        self.health_mean = profile.health_mean
        self.health_by_month = np.full(calendar.months, np.nan)
        self.subscriptions: dict[str, Subscription] = {}
        self.queue: list[tuple[int, int, str, tuple]] = []
        self.sequence = 0
        self.signup_month = calendar.month_of_epoch(profile.signup_at)
        self.tickets_last_month = 0
        self.champion_left_at: int | None = None
        self.history = AccountHistory(profile, self.ledger, self.crm.records, self.health_by_month)

    # -- queue ------------------------------------------------------------------------------------

    def schedule(self, at: int, action: str, *args: object) -> None:
        if at < self.end:
            heapq.heappush(self.queue, (at, self.sequence, action, args))
            self.sequence += 1

    def schedule_within(self, start: int, end: int, action: str, *args: object) -> None:
        """Queue an action at a random second in [start, end)."""
        if end > start:
            self.schedule(start + int(self.rng.integers(0, end - start)), action, *args)

    def run(self) -> AccountHistory:
        for month in range(self.signup_month, self.calendar.months):
            self.schedule(max(self.calendar.month_start_epoch(month), self.profile.signup_at), "tick", month)
        self.schedule(self.profile.signup_at, "signup")
        while self.queue:
            at, _, action, args = heapq.heappop(self.queue)
            getattr(self, f"_on_{action}")(at, *args)
            self._record_timelines(at)
        self._finish()
        return self.history

    # -- state helpers ----------------------------------------------------------------------------

    def live_main(self) -> Subscription | None:
        live = [s for s in self.subscriptions.values() if not s.is_addon and s.is_live]
        return live[-1] if live else None

    def live_addon(self) -> Subscription | None:
        live = [s for s in self.subscriptions.values() if s.is_addon and s.is_live]
        return live[-1] if live else None

    def _record_timelines(self, at: int) -> None:
        main = self.live_main()
        if main is None:
            usage, seats, tier = 0.0, 0, -1
        else:
            if main.status == "paused":
                usage = b.PAUSED_USAGE_FACTOR
            elif main.cancel_at_period_end:
                usage = b.CANCEL_PENDING_USAGE_FACTOR
            else:
                usage = 1.0
            seats, tier = main.quantity, TIERS.index(main.price.tier)
        history = self.history
        for timeline, value in ((history.usage_changes, usage), (history.seat_changes, seats),
                                (history.tier_changes, tier)):
            if not timeline or timeline[-1][1] != value:
                timeline.append((at, value))

    def _finish(self) -> None:
        customer = self.ledger.customer
        if customer is not None:
            customer["delinquent"] = any(
                inv["status"] == "open" and inv["due_date"] < self.end for inv in self.ledger.invoices
            )

    # -- monthly tick -----------------------------------------------------------------------------

    def _on_tick(self, at: int, month: int) -> None:
        month_end = min(self.calendar.month_start_epoch(month + 1), self.end)
        if month > self.signup_month:
            self.health = b.next_health(self.health, self.health_mean, self.rng)
        self.health_by_month[month] = self.health
        self._maybe_lose_champion(at, month_end)

        main = self.live_main()
        seats = main.quantity if main else 0
        tenure = month - self.signup_month
        ticket_count = self.crm.month(at, month_end, self.health, seats, tenure, is_customer=main is not None)
        signals = b.RiskSignals(
            champion_left=self.champion_left_at is not None and at - self.champion_left_at < b.SIGNAL_MEMORY_DAYS * DAY_SECONDS,
            competitor_mentioned=self.crm.competitor_mentioned_since(at - b.SIGNAL_MEMORY_DAYS * DAY_SECONDS),
            tickets_last_month=self.tickets_last_month,
            is_detractor=self.crm.latest_nps is not None and self.crm.latest_nps <= 6,
        )
        self.tickets_last_month = ticket_count

        if main is not None and main.status in ("active", "past_due") and not main.cancel_at_period_end:
            self._decide_main(at, month_end, main, signals)
        addon = self.live_addon()
        if addon is not None and not addon.cancel_at_period_end:
            if self.rng.random() < b.ADDON_CANCEL_MONTHLY * (1 + b.sigmoid(-self.health)):
                self.schedule_within(at, month_end, "cancel_request", addon.id)
        if main is None and any(not s.is_addon for s in self.subscriptions.values()):
            if self.rng.random() < b.REACTIVATION_MONTHLY:
                self.schedule_within(at, month_end, "reactivate")

    def _maybe_lose_champion(self, at: int, month_end: int) -> None:
        champion = self.crm.champion
        if champion is None or champion["left_at"] is not None:
            return
        if self.rng.random() < b.CHAMPION_LEAVES_MONTHLY * (1 + b.sigmoid(-self.health)):
            left_at = at + int(self.rng.integers(0, month_end - at))
            self.crm.champion_leaves(left_at)
            self.champion_left_at = left_at
            self.health -= b.CHAMPION_LOSS_HEALTH_SHOCK
            self.health_mean -= b.CHAMPION_LOSS_HEALTH_SHOCK / 2

    def _decide_main(self, at: int, month_end: int, main: Subscription, signals: b.RiskSignals) -> None:
        rng = self.rng
        months = main.price.months
        if months == 1:
            if rng.random() < b.cancel_probability(self.health, signals):
                self.schedule_within(at, month_end, "cancel_request", main.id)
                return
        elif (main.current_period_end - at < b.RENEWAL_DECISION_DAYS * DAY_SECONDS
              and main.renewal_decided_for != main.current_period_end):
            main.renewal_decided_for = main.current_period_end
            if rng.random() < b.cancel_probability(self.health, signals, months):
                self.schedule_within(at, min(month_end, main.current_period_end - DAY_SECONDS), "cancel_request",
                                     main.id)
                return

        quantity = main.quantity
        if rng.random() < b.seat_expansion_probability(self.health):
            added = max(1, int(round(quantity * rng.uniform(0.1, 0.4))))
            self.schedule_within(at, month_end, "change_seats", main.id, quantity + added)
        elif quantity > 1 and rng.random() < b.seat_contraction_probability(self.health):
            removed = max(1, int(round(quantity * rng.uniform(0.1, 0.3))))
            self.schedule_within(at, month_end, "change_seats", main.id, max(1, quantity - removed))

        tier_index = TIERS.index(main.price.tier)
        if tier_index < len(TIERS) - 1 and rng.random() < b.upgrade_probability(self.health):
            self.schedule_within(at, month_end, "change_tier", main.id, TIERS[tier_index + 1])
        elif tier_index > 0 and rng.random() < b.downgrade_probability(self.health):
            self.schedule_within(at, month_end, "change_tier", main.id, TIERS[tier_index - 1])

        if months == 1 and -1.0 < self.health < 1.5 and rng.random() < b.PAUSE_MONTHLY:
            low, high = b.PAUSE_MONTHS
            self.schedule_within(at, month_end, "pause", main.id, int(rng.integers(low, high + 1)))

        if (self.live_addon() is None and self.profile.segment != "smb"
                and rng.random() < b.ADDON_LATER_MAX * b.sigmoid(2 * (self.health - 0.5))):
            self.schedule_within(at, month_end, "add_addon")

    # -- subscription lifecycle -------------------------------------------------------------------

    def _on_signup(self, at: int) -> None:
        profile = self.profile
        self.ledger.create_customer(profile.name, profile.currency, at)
        self.crm.onboard(at)
        self._start_subscription(at, profile.tier, profile.plan, profile.seats, profile.has_trial,
                                 profile.coupon_kind, is_addon=False)
        if profile.has_addon_at_signup and not profile.has_trial:
            self._start_subscription(at + 5 * 60, ADDON_TIER, "monthly", 1, False, None, is_addon=True)

    def _start_subscription(self, at: int, tier: str, plan: str, quantity: int, trial: bool,
                            coupon_kind: str | None, is_addon: bool) -> Subscription:
        customer = self.ledger.customer
        assert customer is not None
        price = self.prices.get(tier, plan, self.profile.currency)
        subscription_id = stripe_id("sub", self.rng)
        subscription = Subscription(
            id=subscription_id,
            customer=customer["id"],
            account_id=self.profile.account_id,
            currency=self.profile.currency,
            created=at,
            items=[SubscriptionItem(stripe_id("si", self.rng), price, quantity, at)],
            status="active",
            current_period_start=at,
            current_period_end=add_months_epoch(at, price.months),
            billing_cycle_anchor=at,
            days_until_due=b.INVOICE_NET_DAYS[plan],
            is_addon=is_addon,
        )
        if coupon_kind is not None:
            coupon_object = coupon(coupon_kind, self.profile.currency)
            months = coupon_object["duration_in_months"]
            subscription.discount = {
                "id": stripe_id("di", self.rng),
                "object": "discount",
                "coupon": coupon_object,
                "customer": customer["id"],
                "end": add_months_epoch(at, months) if months else None,
                "start": at,
                "subscription": subscription_id,
            }
        if trial:
            trial_end = at + b.TRIAL_DAYS * DAY_SECONDS
            subscription.status = "trialing"
            subscription.trial_start = at
            subscription.trial_end = trial_end
            subscription.current_period_end = trial_end
            subscription.billing_cycle_anchor = trial_end
        self.subscriptions[subscription_id] = subscription
        self.ledger.add_subscription(subscription, at)
        if trial:
            self.schedule(subscription.trial_end, "trial_end", subscription_id)
        else:
            self._bill_period(subscription, at, "subscription_create")
            self.schedule(subscription.current_period_end, "period_end", subscription_id,
                          subscription.current_period_end)
        return subscription

    def _bill_period(self, subscription: Subscription, at: int, reason: str) -> None:
        lines = []
        for item in subscription.items:
            lines.append(invoice_line(
                self.rng, subscription.currency, item.price, item.quantity, item.price.unit_amount * item.quantity,
                subscription.current_period_start, subscription.current_period_end, False,
                f"{item.quantity} × {item.price.to_stripe()['nickname']} "
                f"({iso(subscription.current_period_start)[:10]} – {iso(subscription.current_period_end)[:10]})",
            ))
        lines.extend(subscription.pending_prorations)
        subscription.pending_prorations = []
        invoice = self.ledger.create_invoice(subscription, at, reason, lines, void=subscription.status == "paused")
        self._schedule_payment(invoice)

    def _schedule_payment(self, invoice: dict) -> None:
        if invoice["status"] != "open":
            return
        index = self.ledger.invoices.index(invoice)
        rng = self.rng
        created, due = invoice["created"], invoice["due_date"]
        if rng.random() < b.late_payment_probability(self.health):
            self.schedule(due, "invoice_overdue", index)
            if rng.random() < b.PAYMENT_RECOVERY_SHARE:
                self.schedule(due + int(rng.uniform(2, 28) * DAY_SECONDS), "invoice_paid", index)
            else:
                self.schedule(due + b.WRITE_OFF_AFTER_DUE_DAYS * DAY_SECONDS, "write_off", index)
        else:
            self.schedule_within(created + HOUR_SECONDS, due - DAY_SECONDS, "invoice_paid", index)

    def _on_trial_end(self, at: int, subscription_id: str) -> None:
        subscription = self.subscriptions[subscription_id]
        if subscription.status != "trialing":
            return
        if self.rng.random() < b.trial_conversion_probability(self.health):
            def convert(s: Subscription) -> None:
                s.status = "active"
                s.current_period_start = at
                s.current_period_end = add_months_epoch(at, s.price.months)

            self.ledger.change(subscription, at, convert)
            self._bill_period(subscription, at, "subscription_cycle")
            self.schedule(subscription.current_period_end, "period_end", subscription_id,
                          subscription.current_period_end)
        else:
            self._end_subscription(subscription, at, canceled_at=at)

    def _end_subscription(self, subscription: Subscription, at: int, canceled_at: int | None = None) -> None:
        """End a subscription now; ending the main subscription also ends a live add-on, which needs it."""
        self.ledger.change(subscription, at, lambda s: _end(s, at, canceled_at), "customer.subscription.deleted")
        addon = self.live_addon()
        if not subscription.is_addon and addon is not None:
            self.ledger.change(addon, at, lambda s: _end(s, at, at), "customer.subscription.deleted")

    def _on_period_end(self, at: int, subscription_id: str, expected_end: int) -> None:
        subscription = self.subscriptions[subscription_id]
        if not subscription.is_live or subscription.current_period_end != expected_end:
            return
        if subscription.cancel_at_period_end:
            self._end_subscription(subscription, at)
            return
        anchor_day = from_epoch(subscription.billing_cycle_anchor).day

        def renew(s: Subscription) -> None:
            s.current_period_start = at
            s.current_period_end = add_months_epoch(at, s.price.months, anchor_day)

        self.ledger.change(subscription, at, renew)
        self._bill_period(subscription, at, "subscription_cycle")
        self.schedule(subscription.current_period_end, "period_end", subscription_id, subscription.current_period_end)

    def _on_cancel_request(self, at: int, subscription_id: str) -> None:
        subscription = self.subscriptions[subscription_id]
        if subscription.status not in ("active", "past_due") or subscription.cancel_at_period_end:
            return

        def request(s: Subscription) -> None:
            s.cancel_at_period_end = True
            s.cancel_at = s.current_period_end
            s.canceled_at = at

        self.ledger.change(subscription, at, request)
        if self.rng.random() < b.CANCEL_SAVED_SHARE:
            self.schedule_within(at + HOUR_SECONDS, subscription.current_period_end, "withdraw_cancel", subscription_id)

    def _on_withdraw_cancel(self, at: int, subscription_id: str) -> None:
        subscription = self.subscriptions[subscription_id]
        if not subscription.is_live or not subscription.cancel_at_period_end:
            return

        def withdraw(s: Subscription) -> None:
            s.cancel_at_period_end = False
            s.cancel_at = None
            s.canceled_at = None

        self.ledger.change(subscription, at, withdraw)

    def _on_change_seats(self, at: int, subscription_id: str, quantity: int) -> None:
        subscription = self.subscriptions[subscription_id]
        self._change_item(at, subscription, subscription.price, quantity)

    def _on_change_tier(self, at: int, subscription_id: str, tier: str) -> None:
        subscription = self.subscriptions[subscription_id]
        price = self.prices.get(tier, subscription.price.plan, subscription.currency)
        self._change_item(at, subscription, price, subscription.quantity)

    def _change_item(self, at: int, subscription: Subscription, price: Price, quantity: int) -> None:
        """Swap the main item's price or quantity mid-period and bill the prorated difference."""
        if subscription.status not in ("active", "past_due") or subscription.cancel_at_period_end:
            return
        item = subscription.items[0]
        if item.price == price and item.quantity == quantity:
            return
        start, end = subscription.current_period_start, subscription.current_period_end
        remaining = (end - at) / (end - start)
        old_nickname, new_nickname = item.price.to_stripe()["nickname"], price.to_stripe()["nickname"]
        lines = [
            invoice_line(self.rng, subscription.currency, item.price, item.quantity,
                         -int(round(item.price.unit_amount * item.quantity * remaining)), at, end, True,
                         f"Unused time on {item.quantity} × {old_nickname} after {iso(at)[:10]}"),
            invoice_line(self.rng, subscription.currency, price, quantity,
                         int(round(price.unit_amount * quantity * remaining)), at, end, True,
                         f"Remaining time on {quantity} × {new_nickname} after {iso(at)[:10]}"),
        ]

        def swap(s: Subscription) -> None:
            s.items[0].price = price
            s.items[0].quantity = quantity

        self.ledger.change(subscription, at, swap)
        if price.months == 1:
            subscription.pending_prorations.extend(lines)
        else:
            invoice = self.ledger.create_invoice(subscription, at, "subscription_update", lines, void=False)
            self._schedule_payment(invoice)

    def _on_pause(self, at: int, subscription_id: str, months: int) -> None:
        subscription = self.subscriptions[subscription_id]
        if subscription.status != "active" or subscription.cancel_at_period_end:
            return
        resumes_at = add_months_epoch(at, months)

        def pause(s: Subscription) -> None:
            s.status = "paused"
            s.pause_collection = {"behavior": "void", "resumes_at": resumes_at}

        self.ledger.change(subscription, at, pause, "customer.subscription.paused")
        self.schedule(resumes_at, "resume", subscription_id)

    def _on_resume(self, at: int, subscription_id: str) -> None:
        subscription = self.subscriptions[subscription_id]
        if subscription.status != "paused":
            return

        def resume(s: Subscription) -> None:
            s.status = "active"
            s.pause_collection = None

        self.ledger.change(subscription, at, resume, "customer.subscription.resumed")

    def _on_add_addon(self, at: int) -> None:
        main = self.live_main()
        if self.live_addon() is None and main is not None and main.status == "active":
            self._start_subscription(at, ADDON_TIER, "monthly", 1, False, None, is_addon=True)

    def _on_reactivate(self, at: int) -> None:
        if self.live_main() is not None:
            return
        previous = [s for s in self.subscriptions.values() if not s.is_addon][-1]
        self.health_mean += b.REACTIVATION_HEALTH_BOOST / 2
        self.health = max(self.health, self.health_mean)
        quantity = max(1, int(round(previous.quantity * self.rng.uniform(0.6, 1.0))))
        self._start_subscription(at, previous.price.tier, previous.price.plan, quantity, False, None, is_addon=False)

    # -- payments ---------------------------------------------------------------------------------

    def _subscription_of(self, invoice: dict) -> Subscription:
        return self.subscriptions[invoice["subscription"]]

    def _on_invoice_overdue(self, at: int, index: int) -> None:
        invoice = self.ledger.invoices[index]
        if invoice["status"] != "open":
            return
        if self.rng.random() < PRE_PAYMENT_CREDIT_SHARE:
            amount = int(round(invoice["amount_remaining"] * self.rng.uniform(0.1, 0.3)))
            if amount > 0:
                self.ledger.credit_note(invoice, at, amount, "order_change", "pre_payment")
                invoice["amount_due"] -= amount
                invoice["amount_remaining"] -= amount
                invoice["pre_payment_credit_notes_amount"] += amount
        subscription = self._subscription_of(invoice)
        if subscription.status == "active":
            self.ledger.change(subscription, at, lambda s: setattr(s, "status", "past_due"))

    def _on_invoice_paid(self, at: int, index: int) -> None:
        invoice = self.ledger.invoices[index]
        if invoice["status"] != "open":
            return
        self.ledger.mark_paid(invoice, at)
        subscription = self._subscription_of(invoice)
        still_overdue = any(
            inv["status"] == "open" and inv["subscription"] == subscription.id and inv["due_date"] <= at
            for inv in self.ledger.invoices
        )
        if subscription.status == "past_due" and not still_overdue:
            self.ledger.change(subscription, at, lambda s: setattr(s, "status", "active"))
        refund_chance = b.REFUND_PER_PAID_INVOICE * (1 + 2 * b.sigmoid(-2 * self.health))
        if invoice["amount_paid"] > 0 and self.rng.random() < refund_chance:
            self.schedule_within(at + HOUR_SECONDS, at + 20 * DAY_SECONDS, "refund", index)

    def _on_refund(self, at: int, index: int) -> None:
        invoice = self.ledger.invoices[index]
        share = 1.0 if self.rng.random() < 0.3 else float(self.rng.uniform(0.2, 0.5))
        amount = int(round(invoice["amount_paid"] * share))
        reason = b.pick(self.rng, REFUND_REASONS, (0.6, 0.2, 0.2))
        self.ledger.credit_note(invoice, at, amount, reason, "post_payment")
        invoice["post_payment_credit_notes_amount"] += amount

    def _on_write_off(self, at: int, index: int) -> None:
        invoice = self.ledger.invoices[index]
        if invoice["status"] != "open":
            return
        self.ledger.mark_uncollectible(invoice, at)
        subscription = self._subscription_of(invoice)
        if subscription.is_live:
            self._end_subscription(subscription, at, canceled_at=at)


def _end(subscription: Subscription, at: int, canceled_at: int | None = None) -> None:
    """End access now: the subscription becomes canceled with ended_at set."""
    subscription.status = "canceled"
    subscription.ended_at = at
    if canceled_at is not None:
        subscription.canceled_at = canceled_at
        subscription.cancel_at_period_end = False
        subscription.cancel_at = None
