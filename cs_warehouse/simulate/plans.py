"""The price list: tiers, billing intervals, currencies, coupons and the add-on, as Stripe objects."""

from __future__ import annotations

from dataclasses import dataclass

TIERS = ("starter", "growth", "enterprise")
CURRENCIES = ("usd", "eur", "gbp")

# List price per seat per month in US cents, before the longer-interval discounts below.
MONTHLY_SEAT_PRICE_USD_CENTS = {"starter": 2_500, "growth": 6_000, "enterprise": 12_000}
# Billing plans: Stripe recurring.interval, recurring.interval_count, months per period, price factor
# applied to the monthly price times the months (prepaying longer is cheaper).
BILLING_PLANS = {
    "monthly": ("month", 1, 1, 1.00),
    "quarterly": ("month", 3, 3, 0.95),
    "annual": ("year", 1, 12, 0.85),
}
# Local list prices are set from these rates and rounded to whole units, as a pricing team would.
LIST_PRICE_FX_FROM_USD = {"usd": 1.0, "eur": 0.92, "gbp": 0.79}

ADDON_TIER = "analytics_addon"
ADDON_MONTHLY_PRICE_USD_CENTS = 20_000
PRICE_LIST_CREATED_EPOCH = 1_696_118_400  # 2023-10-01, before the history starts

# Coupons. amount_off coupons exist once per currency because Stripe ties a fixed amount to one.
PERCENT_COUPONS = (
    {"id": "WELCOME20", "percent_off": 20.0, "duration": "once", "duration_in_months": None},
    {"id": "QUARTER15", "percent_off": 15.0, "duration": "repeating", "duration_in_months": 3},
    {"id": "PARTNER10", "percent_off": 10.0, "duration": "forever", "duration_in_months": None},
    {"id": "NONPROFIT25", "percent_off": 25.0, "duration": "forever", "duration_in_months": None},
)
AMOUNT_COUPON_MINOR_UNITS = 5_000


@dataclass(frozen=True)
class Price:
    id: str
    product: str
    tier: str
    plan: str  # monthly, quarterly or annual
    currency: str
    unit_amount: int
    active: bool = True

    @property
    def interval(self) -> str:
        return BILLING_PLANS[self.plan][0]

    @property
    def interval_count(self) -> int:
        return BILLING_PLANS[self.plan][1]

    @property
    def months(self) -> int:
        return BILLING_PLANS[self.plan][2]

    def to_stripe(self) -> dict:
        return {
            "id": self.id,
            "object": "price",
            "active": self.active,
            "billing_scheme": "per_unit",
            "created": PRICE_LIST_CREATED_EPOCH,
            "currency": self.currency,
            "livemode": False,
            "lookup_key": None,
            "metadata": {"tier": self.tier},
            "nickname": f"{self.tier.replace('_', ' ').title()} {self.plan} ({self.currency.upper()})",
            "product": self.product,
            "recurring": {
                "interval": self.interval,
                "interval_count": self.interval_count,
                "usage_type": "licensed",
            },
            "type": "recurring",
            "unit_amount": self.unit_amount,
        }


def _local_amount(usd_cents: float, currency: str) -> int:
    """Convert a US-cent amount into the currency's list price, rounded to whole currency units."""
    return int(round(usd_cents * LIST_PRICE_FX_FROM_USD[currency] / 100.0)) * 100


def build_price_list() -> list[Price]:
    """Build every price: each tier, plan and currency, the add-on, and one retired (inactive) price."""
    prices = []
    for tier in TIERS:
        for plan, (_, _, months, factor) in BILLING_PLANS.items():
            for currency in CURRENCIES:
                amount = _local_amount(MONTHLY_SEAT_PRICE_USD_CENTS[tier] * months * factor, currency)
                prices.append(Price(f"price_{tier}_{plan}_{currency}", f"prod_{tier}", tier, plan, currency, amount))
    for currency in CURRENCIES:
        amount = _local_amount(ADDON_MONTHLY_PRICE_USD_CENTS, currency)
        prices.append(Price(f"price_{ADDON_TIER}_monthly_{currency}", f"prod_{ADDON_TIER}", ADDON_TIER, "monthly",
                            currency, amount))
    prices.append(Price("price_starter_monthly_usd_2023", "prod_starter", "starter", "monthly", "usd", 1_900,
                        active=False))
    return prices


class PriceBook:
    """Look up the price for a tier, plan and currency."""

    def __init__(self, prices: list[Price]) -> None:
        self.prices = prices
        self._by_key = {(p.tier, p.plan, p.currency): p for p in prices if p.active}

    def get(self, tier: str, plan: str, currency: str) -> Price:
        return self._by_key[(tier, plan, currency)]


def coupon(kind: str, currency: str) -> dict:
    """Return the Stripe coupon object for a coupon kind (a PERCENT_COUPONS id or 'FIRST50')."""
    if kind == "FIRST50":
        return {
            "id": f"FIRST50{currency.upper()}",
            "object": "coupon",
            "amount_off": AMOUNT_COUPON_MINOR_UNITS,
            "currency": currency,
            "duration": "once",
            "duration_in_months": None,
            "percent_off": None,
        }
    spec = next(c for c in PERCENT_COUPONS if c["id"] == kind)
    return {
        "id": spec["id"],
        "object": "coupon",
        "amount_off": None,
        "currency": None,
        "duration": spec["duration"],
        "duration_in_months": spec["duration_in_months"],
        "percent_off": spec["percent_off"],
    }
