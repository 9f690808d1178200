"""The landing contract: every landing file, its columns, types and keys, and the raw table it loads into.

This module is the single source of truth. The simulator writes files that follow it, the importers
convert public data sets into it, ingestion validates and types landing rows by it, and
docs/landing_contract.md explains it in prose.

Column kinds (how a landing value is read):
- string, integer, float, boolean: plain values. CSV booleans are true/false, 1/0 or yes/no.
- timestamp: ISO-8601 text. A value with an offset is converted to UTC; a value without one is taken
  as UTC. Raw tables store naive TIMESTAMP values that are UTC.
- epoch: Unix seconds (Stripe's convention), stored as a UTC TIMESTAMP.
- date: YYYY-MM-DD.
- json: a nested object or array, stored as JSON text.

Every raw table also has the load metadata columns `_source_file`, `_source_line` (1-based line in
the file, the header being line 1 for CSV; the row index + 1 for Parquet), `_loaded_at` (UTC) and
`_extra` (JSON text of landing fields the contract does not name, NULL when there are none).
Rejected rows go to `raw_rejects.<table>` with `_source_file`, `_source_line`, `raw_record`,
`reason` and `_loaded_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

KINDS = ("string", "integer", "float", "boolean", "timestamp", "epoch", "date", "json")

DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "epoch": "TIMESTAMP",
    "date": "DATE",
    "json": "VARCHAR",
}

LOAD_METADATA_COLUMNS = ("_source_file", "_source_line", "_loaded_at", "_extra")
REJECT_COLUMNS = ("_source_file", "_source_line", "raw_record", "reason", "_loaded_at")

RAW_SCHEMA = "raw"
REJECTS_SCHEMA = "raw_rejects"


@dataclass(frozen=True)
class Column:
    """One raw column and where its value comes from in a landing record."""

    name: str
    kind: str
    description: str
    required: bool = False
    # Dotted path of the value in a JSON record, or the CSV header; defaults to `name`.
    source: str | None = None
    allowed: tuple[str, ...] | None = None
    # Inclusive numeric range a valid value lies in; values outside it are rejected.
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}, expected one of {KINDS}")

    @property
    def source_path(self) -> str:
        return self.source or self.name

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


@dataclass(frozen=True)
class ChildTable:
    """Rows unnested from an array inside each landing record (Stripe's `items.data`, `lines.data`)."""

    table: str
    array_path: str
    # Raw column of the parent table copied into each child row to join back on.
    parent_key: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Entity:
    """One landing entity: the files that carry it and the raw table they load into."""

    table: str
    system: str  # crm, billing, events or catalog
    file_format: str  # csv, jsonl or events (JSON Lines or Parquet)
    patterns: tuple[str, ...]  # globs relative to the landing folder; .gz variants are accepted too
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    children: tuple[ChildTable, ...] = field(default=())

    @property
    def required_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table} has no column {name!r}")


def _nested(columns: tuple[Column, ...], prefix: str) -> tuple[Column, ...]:
    """Return the columns with their JSON source paths moved under `prefix`."""
    return tuple(replace(c, source=f"{prefix}.{c.source_path}") for c in columns)


# ---------------------------------------------------------------------------------------------
# CRM: CSV exports, one header row, comma separated, UTF-8.

CRM_ACCOUNTS = Entity(
    table="crm_accounts",
    system="crm",
    file_format="csv",
    patterns=("crm/accounts*.csv",),
    key=("account_id",),
    description="One row per customer account (company) in the CRM.",
    columns=(
        Column("account_id", "string", "CRM account id; the key every other source refers to.", required=True),
        Column("name", "string", "Company name.", required=True),
        Column("industry", "string", "Industry label as entered in the CRM."),
        Column("employee_count", "integer", "Number of employees of the company.", minimum=0),
        Column("country", "string", "ISO 3166-1 alpha-2 country code."),
        Column("owner_csm_id", "string", "CSM who owns the account (crm_csms.csm_id)."),
        Column("created_at", "timestamp", "When the account was created in the CRM.", required=True),
    ),
)

CRM_CSMS = Entity(
    table="crm_csms",
    system="crm",
    file_format="csv",
    patterns=("crm/csms*.csv",),
    key=("csm_id",),
    description="One row per customer success manager.",
    columns=(
        Column("csm_id", "string", "CSM id.", required=True),
        Column("name", "string", "Full name.", required=True),
        Column("team", "string", "Team the CSM belongs to."),
    ),
)

CRM_CONTACTS = Entity(
    table="crm_contacts",
    system="crm",
    file_format="csv",
    patterns=("crm/contacts*.csv",),
    key=("contact_id",),
    description="One row per contact person at an account.",
    columns=(
        Column("contact_id", "string", "Contact id.", required=True),
        Column("account_id", "string", "Account the contact works at.", required=True),
        Column("email", "string", "Email address."),
        Column("role", "string", "Job role, free text (e.g. admin, executive sponsor, end user)."),
        Column("is_champion", "boolean", "True when the contact is the account's internal champion."),
        Column("created_at", "timestamp", "When the contact was added."),
        Column("left_at", "timestamp", "When the contact left the company; empty while still there."),
    ),
)

CRM_TICKETS = Entity(
    table="crm_tickets",
    system="crm",
    file_format="csv",
    patterns=("crm/tickets*.csv",),
    key=("ticket_id",),
    description="One row per support ticket.",
    columns=(
        Column("ticket_id", "string", "Ticket id.", required=True),
        Column("account_id", "string", "Account that opened the ticket.", required=True),
        Column("created_at", "timestamp", "When the ticket was opened.", required=True),
        Column("first_response_at", "timestamp", "First agent response; empty when none yet."),
        Column("resolved_at", "timestamp", "When the ticket was solved; empty while unresolved."),
        Column("priority", "string", "Ticket priority.", allowed=("low", "normal", "high", "urgent")),
        Column("status", "string", "Current status.", allowed=("new", "open", "pending", "solved", "closed")),
        Column("category", "string", "Topic, free text (e.g. bug, billing, how-to)."),
        Column("csat", "integer", "Customer satisfaction rating 1-5; empty when not rated.", minimum=1, maximum=5),
    ),
)

CRM_NPS_RESPONSES = Entity(
    table="crm_nps_responses",
    system="crm",
    file_format="csv",
    patterns=("crm/nps_responses*.csv",),
    key=("response_id",),
    description="One row per Net Promoter Score survey answer.",
    columns=(
        Column("response_id", "string", "Survey response id.", required=True),
        Column("account_id", "string", "Account of the respondent.", required=True),
        Column("contact_id", "string", "Respondent (crm_contacts.contact_id)."),
        Column("score", "integer", "Likelihood to recommend, 0-10.", required=True, minimum=0, maximum=10),
        Column("comment", "string", "Free-text comment."),
        Column("answered_at", "timestamp", "When the survey was answered.", required=True),
    ),
)

CRM_CS_ACTIVITIES = Entity(
    table="crm_cs_activities",
    system="crm",
    file_format="csv",
    patterns=("crm/cs_activities*.csv",),
    key=("activity_id",),
    description="One row per logged customer-success touch.",
    columns=(
        Column("activity_id", "string", "Activity id.", required=True),
        Column("account_id", "string", "Account touched.", required=True),
        Column("csm_id", "string", "CSM who logged the activity."),
        Column(
            "activity_type",
            "string",
            "Kind of touch.",
            required=True,
            allowed=("call", "email", "meeting", "business_review", "note"),
        ),
        Column("occurred_at", "timestamp", "When the touch happened.", required=True),
        Column("competitor_mentioned", "boolean", "True when the customer mentioned a competitor."),
    ),
)

# ---------------------------------------------------------------------------------------------
# Billing: JSON Lines, one Stripe-shaped object per line. Amounts are integers in minor units
# (cents); currencies are lowercase ISO 4217 codes.

BILLING_CUSTOMERS = Entity(
    table="billing_customers",
    system="billing",
    file_format="jsonl",
    patterns=("billing/customers*.jsonl",),
    key=("customer_id",),
    description="One row per Stripe customer object.",
    columns=(
        Column("customer_id", "string", "Stripe customer id (cus_...).", required=True, source="id"),
        Column("account_id", "string", "CRM account id, from metadata.account_id.", required=True,
               source="metadata.account_id"),
        Column("email", "string", "Billing email."),
        Column("name", "string", "Billing name."),
        Column("currency", "string", "Default currency."),
        Column("is_delinquent", "boolean", "Stripe's delinquent flag.", source="delinquent"),
        Column("created_at", "epoch", "When the customer was created.", required=True, source="created"),
    ),
)

BILLING_PRICES = Entity(
    table="billing_prices",
    system="billing",
    file_format="jsonl",
    patterns=("billing/prices*.jsonl",),
    key=("price_id",),
    description="One row per Stripe price (a plan at one amount, currency and billing interval).",
    columns=(
        Column("price_id", "string", "Stripe price id (price_...).", required=True, source="id"),
        Column("product_id", "string", "Stripe product id.", source="product"),
        Column("nickname", "string", "Human-readable plan name."),
        Column("tier", "string", "Plan tier, from metadata.tier (e.g. starter, growth, enterprise).",
               source="metadata.tier"),
        Column("unit_amount", "integer", "Price per unit per interval, in minor units.", required=True, minimum=0),
        Column("currency", "string", "Currency of unit_amount.", required=True),
        Column("interval", "string", "Billing interval; empty for one-off prices.", source="recurring.interval",
               allowed=("day", "week", "month", "year")),
        Column("interval_count", "integer", "Number of intervals between bills.",
               source="recurring.interval_count", minimum=1),
        Column("is_active", "boolean", "Whether the price can be used for new subscriptions.", source="active"),
        Column("created_at", "epoch", "When the price was created.", source="created"),
    ),
)

SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)

# Columns of a Stripe subscription object; used for the snapshot and, nested under data.object,
# for every subscription change event.
SUBSCRIPTION_COLUMNS = (
    Column("subscription_id", "string", "Stripe subscription id (sub_...).", required=True, source="id"),
    Column("customer_id", "string", "Stripe customer id.", required=True, source="customer"),
    Column("status", "string", "Subscription status.", required=True, allowed=SUBSCRIPTION_STATUSES),
    Column("currency", "string", "Currency of the subscription's prices.", required=True),
    Column("created_at", "epoch", "When the subscription was created.", required=True, source="created"),
    Column("started_at", "epoch", "Start date of the subscription.", source="start_date"),
    Column("trial_start_at", "epoch", "Start of the trial, if any.", source="trial_start"),
    Column("trial_end_at", "epoch", "End of the trial, if any.", source="trial_end"),
    Column("current_period_start_at", "epoch", "Start of the current billing period.",
           source="current_period_start"),
    Column("current_period_end_at", "epoch", "End of the current billing period.", source="current_period_end"),
    Column("cancel_at_period_end", "boolean", "True when the customer asked to cancel at the period end."),
    Column("cancel_at", "epoch", "When a scheduled cancellation takes effect."),
    Column("canceled_at", "epoch", "When the cancellation was requested."),
    Column("ended_at", "epoch", "When access ended; empty while the subscription runs."),
    Column("discount_coupon_id", "string", "Coupon applied to the subscription.", source="discount.coupon.id"),
    Column("discount_percent_off", "float", "Coupon percentage off, 0-100.", source="discount.coupon.percent_off",
           minimum=0, maximum=100),
    Column("discount_amount_off", "integer", "Coupon fixed amount off per invoice, in minor units.",
           source="discount.coupon.amount_off", minimum=0),
    Column("discount_duration", "string", "once: first invoice only; repeating: for duration_in_months; "
           "forever: every invoice.", source="discount.coupon.duration", allowed=("once", "repeating", "forever")),
    Column("discount_duration_in_months", "integer", "Months a repeating coupon lasts.",
           source="discount.coupon.duration_in_months", minimum=1),
    Column("discount_start_at", "epoch", "When the discount started.", source="discount.start"),
    Column("discount_end_at", "epoch", "When the discount ends; empty for forever or once.", source="discount.end"),
    Column("pause_behavior", "string", "pause_collection.behavior when collection is paused.",
           source="pause_collection.behavior", allowed=("keep_as_draft", "mark_uncollectible", "void")),
)

SUBSCRIPTION_ITEM_COLUMNS = (
    Column("item_id", "string", "Stripe subscription item id (si_...).", required=True, source="id"),
    Column("price_id", "string", "Price of the item.", required=True, source="price.id"),
    Column("quantity", "integer", "Number of units (seats).", required=True, minimum=0),
)

BILLING_SUBSCRIPTIONS = Entity(
    table="billing_subscriptions",
    system="billing",
    file_format="jsonl",
    patterns=("billing/subscriptions*.jsonl",),
    key=("subscription_id",),
    description="One row per Stripe subscription, in its state at export time.",
    columns=SUBSCRIPTION_COLUMNS,
    children=(
        ChildTable(
            table="billing_subscription_items",
            array_path="items.data",
            parent_key="subscription_id",
            columns=SUBSCRIPTION_ITEM_COLUMNS,
            key=("subscription_id", "item_id"),
            description="One row per item of a subscription at export time.",
        ),
    ),
)

BILLING_SUBSCRIPTION_EVENTS = Entity(
    table="billing_subscription_events",
    system="billing",
    file_format="jsonl",
    patterns=("billing/subscription_events*.jsonl",),
    key=("event_id",),
    description=(
        "One row per Stripe customer.subscription.* event. data.object is the full subscription after "
        "the change, so the events rebuild each subscription's history."
    ),
    columns=(
        Column("event_id", "string", "Stripe event id (evt_...).", required=True, source="id"),
        Column("event_type", "string", "Event type.", required=True, source="type",
               allowed=("customer.subscription.created", "customer.subscription.updated",
                        "customer.subscription.deleted", "customer.subscription.paused",
                        "customer.subscription.resumed", "customer.subscription.trial_will_end")),
        Column("event_created_at", "epoch", "When the change happened.", required=True, source="created"),
        Column("previous_attributes", "json", "Attributes the change replaced, as Stripe reports them.",
               source="data.previous_attributes"),
        *_nested(SUBSCRIPTION_COLUMNS, "data.object"),
    ),
    children=(
        ChildTable(
            table="billing_subscription_event_items",
            array_path="data.object.items.data",
            parent_key="event_id",
            columns=SUBSCRIPTION_ITEM_COLUMNS,
            key=("event_id", "item_id"),
            description="One row per subscription item as of a subscription event.",
        ),
    ),
)

BILLING_INVOICES = Entity(
    table="billing_invoices",
    system="billing",
    file_format="jsonl",
    patterns=("billing/invoices*.jsonl",),
    key=("invoice_id",),
    description="One row per Stripe invoice.",
    columns=(
        Column("invoice_id", "string", "Stripe invoice id (in_...).", required=True, source="id"),
        Column("customer_id", "string", "Stripe customer id.", required=True, source="customer"),
        Column("subscription_id", "string", "Subscription billed, if any.", source="subscription"),
        Column("status", "string", "Invoice status.", required=True,
               allowed=("draft", "open", "paid", "void", "uncollectible")),
        Column("billing_reason", "string", "Why the invoice was created (subscription_cycle, subscription_create, "
               "subscription_update, manual).", allowed=("subscription_cycle", "subscription_create",
                                                          "subscription_update", "subscription_threshold",
                                                          "manual", "upcoming")),
        Column("currency", "string", "Invoice currency.", required=True),
        Column("subtotal", "integer", "Sum of lines before discounts, minor units."),
        Column("total_discount", "integer", "Discount applied to the invoice, minor units.",
               source="total_discount_amount", minimum=0),
        Column("total", "integer", "Amount after discounts, minor units.", required=True),
        Column("amount_due", "integer", "Amount the customer owes, minor units."),
        Column("amount_paid", "integer", "Amount paid so far, minor units.", minimum=0),
        Column("amount_remaining", "integer", "Amount still unpaid, minor units.", minimum=0),
        Column("created_at", "epoch", "When the invoice was created.", required=True, source="created"),
        Column("due_at", "epoch", "Payment due date.", source="due_date"),
        Column("paid_at", "epoch", "When it was paid, from status_transitions.paid_at.",
               source="status_transitions.paid_at"),
        Column("period_start_at", "epoch", "Start of the billed period.", source="period_start"),
        Column("period_end_at", "epoch", "End of the billed period.", source="period_end"),
    ),
    children=(
        ChildTable(
            table="billing_invoice_lines",
            array_path="lines.data",
            parent_key="invoice_id",
            key=("invoice_id", "line_id"),
            description="One row per invoice line.",
            columns=(
                Column("line_id", "string", "Stripe line id (il_...).", required=True, source="id"),
                Column("price_id", "string", "Price billed.", source="price.id"),
                Column("quantity", "integer", "Units billed.", minimum=0),
                Column("amount", "integer", "Line amount, minor units; negative for proration credits.",
                       required=True),
                Column("is_proration", "boolean", "True for a proration line after a plan change.",
                       source="proration"),
                Column("period_start_at", "epoch", "Start of the period the line covers.", source="period.start"),
                Column("period_end_at", "epoch", "End of the period the line covers.", source="period.end"),
                Column("description", "string", "Line text."),
            ),
        ),
    ),
)

BILLING_CREDIT_NOTES = Entity(
    table="billing_credit_notes",
    system="billing",
    file_format="jsonl",
    patterns=("billing/credit_notes*.jsonl",),
    key=("credit_note_id",),
    description="One row per Stripe credit note (a refund or credit against an invoice).",
    columns=(
        Column("credit_note_id", "string", "Stripe credit note id (cn_...).", required=True, source="id"),
        Column("invoice_id", "string", "Invoice credited.", required=True, source="invoice"),
        Column("customer_id", "string", "Stripe customer id.", required=True, source="customer"),
        Column("amount", "integer", "Amount credited, minor units.", required=True, minimum=0),
        Column("currency", "string", "Currency of amount.", required=True),
        Column("reason", "string", "Stripe reason.", allowed=("duplicate", "fraudulent", "order_change",
                                                               "product_unsatisfactory")),
        Column("status", "string", "issued or void.", allowed=("issued", "void")),
        Column("credit_type", "string", "pre_payment or post_payment (a refund of paid money).", source="type",
               allowed=("pre_payment", "post_payment")),
        Column("created_at", "epoch", "When the credit note was issued.", required=True, source="created"),
    ),
)

BILLING_FX_RATES = Entity(
    table="billing_fx_rates",
    system="billing",
    file_format="jsonl",
    patterns=("billing/fx_rates*.jsonl",),
    key=("rate_date", "currency", "quote_currency"),
    description="One row per currency per day: the value of one unit of `currency` in `quote_currency`.",
    columns=(
        Column("rate_date", "date", "Day the rate applies to.", required=True, source="date"),
        Column("currency", "string", "Currency converted from.", required=True),
        Column("quote_currency", "string", "Currency converted to (the reporting currency).", required=True,
               source="quote"),
        Column("rate", "float", "Units of quote_currency per unit of currency.", required=True, minimum=0),
    ),
)

# ---------------------------------------------------------------------------------------------
# Product events: Segment-spec calls. JSON Lines (optionally gzipped) or Parquet with the same
# top-level field names; `properties`, `traits` and `context` are objects in JSON and JSON text
# in Parquet.

EVENTS = Entity(
    table="events",
    system="events",
    file_format="events",
    patterns=("events/*.jsonl", "events/**/*.jsonl", "events/*.parquet", "events/**/*.parquet"),
    key=("message_id",),
    description=(
        "One row per Segment call (track, identify, group, page), deduplicated on messageId: the copy "
        "received first wins. event_at is the timestamp corrected for client clock skew."
    ),
    columns=(
        Column("message_id", "string", "Segment messageId, unique per call.", required=True, source="messageId"),
        Column("event_type", "string", "Segment call type.", required=True, source="type",
               allowed=("track", "identify", "group", "page", "screen", "alias")),
        Column("event_name", "string", "Event name of a track call.", source="event"),
        Column("user_id", "string", "Segment userId: the product user.", source="userId"),
        Column("anonymous_id", "string", "Segment anonymousId.", source="anonymousId"),
        Column("account_id", "string", "Segment groupId: the CRM account id. Falls back to context.groupId.",
               source="groupId"),
        Column("properties", "json", "Event properties."),
        Column("traits", "json", "User or group traits of identify and group calls."),
        Column("context", "json", "Segment context: library, page, device, and groupId when the call has none."),
        Column("timestamp", "timestamp", "When the event happened by the client's clock.", required=True),
        Column("sent_at", "timestamp", "When the client sent the event, by the client's clock.", source="sentAt"),
        Column("received_at", "timestamp", "When the server received the event.", required=True,
               source="receivedAt"),
    ),
)

# Columns ingestion derives for events; they are part of raw.events but read from no landing field.
EVENT_DERIVED_COLUMNS = (
    Column("event_at", "timestamp", "timestamp corrected for clock skew: receivedAt - (sentAt - timestamp); "
           "equal to timestamp when sentAt is missing."),
    Column("clock_skew_seconds", "float", "sentAt - receivedAt in seconds: how far the client clock ran ahead."),
    Column("is_future_dated", "boolean", "True when event_at is later than receivedAt plus the tolerance."),
)

# An event dated more than this after the server received it is flagged as future-dated.
FUTURE_EVENT_TOLERANCE_SECONDS = 24 * 3600

# ---------------------------------------------------------------------------------------------
# Feature catalog: CSV maintained by the product team.

CATALOG_FEATURES = Entity(
    table="catalog_features",
    system="catalog",
    file_format="csv",
    patterns=("catalog/features*.csv",),
    key=("event_name",),
    description="One row per tracked event name: whether it is a feature, premium, the activation event, "
    "and which onboarding task it completes.",
    columns=(
        Column("event_name", "string", "Segment track event name.", required=True),
        Column("feature_name", "string", "Feature the event belongs to; empty when not a feature."),
        Column("is_feature", "boolean", "True when using the event counts as using a feature.", required=True),
        Column("is_premium", "boolean", "True for features only higher tiers include."),
        Column("is_activation", "boolean", "True for the activation ('aha') event."),
        Column("onboarding_task", "string", "Onboarding checklist task the event completes; empty when none."),
    ),
)

ENTITIES: tuple[Entity, ...] = (
    CRM_ACCOUNTS,
    CRM_CSMS,
    CRM_CONTACTS,
    CRM_TICKETS,
    CRM_NPS_RESPONSES,
    CRM_CS_ACTIVITIES,
    BILLING_CUSTOMERS,
    BILLING_PRICES,
    BILLING_SUBSCRIPTIONS,
    BILLING_SUBSCRIPTION_EVENTS,
    BILLING_INVOICES,
    BILLING_CREDIT_NOTES,
    BILLING_FX_RATES,
    EVENTS,
    CATALOG_FEATURES,
)

ENTITIES_BY_TABLE = {e.table: e for e in ENTITIES}


def entity(table: str) -> Entity:
    """Return the entity whose raw table is `table`."""
    try:
        return ENTITIES_BY_TABLE[table]
    except KeyError:
        raise KeyError(f"no landing entity loads raw.{table}; known tables: {sorted(ENTITIES_BY_TABLE)}") from None
