"""Daily FX rates into US dollars: a seeded random walk around typical 2024 levels."""

from __future__ import annotations

import numpy as np

from cs_warehouse.simulate.calendar import Calendar

QUOTE_CURRENCY = "usd"
STARTING_RATES_TO_USD = {"eur": 1.09, "gbp": 1.27}
DAILY_LOG_VOLATILITY = 0.004


def fx_rate_rows(calendar: Calendar, seed: int) -> list[dict]:
    """Build one row per currency per day, with usd at 1.0 so that every currency converts by the same join."""
    rng = np.random.default_rng([seed, 5])
    walks = {
        currency: start * np.exp(np.cumsum(rng.normal(0, DAILY_LOG_VOLATILITY, calendar.days)))
        for currency, start in STARTING_RATES_TO_USD.items()
    }
    rows = []
    for day in range(calendar.days):
        date = calendar.date_of_day(day)
        rows.append({"date": date, "currency": QUOTE_CURRENCY, "quote": QUOTE_CURRENCY, "rate": 1.0})
        for currency, walk in walks.items():
            rows.append({"date": date, "currency": currency, "quote": QUOTE_CURRENCY, "rate": round(float(walk[day]), 6)})
    return rows
