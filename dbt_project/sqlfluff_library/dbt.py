"""Lint-time stand-ins for dbt's cross-database macros (`dbt.dateadd`, `dbt.datediff`, ...).

sqlfluff's jinja templater runs without dbt, so `{{ dbt.dateadd(...) }}` would render as nothing
and leave unparsable SQL. Each stand-in renders a plain function call with the same arguments,
which is enough to parse and lint the surrounding SQL. dbt itself never imports this module.
"""

from __future__ import annotations

from typing import Any, Callable


def dateadd(datepart: str, interval: Any, from_date_or_timestamp: Any) -> str:
    return f"date_add('{datepart}', {interval}, {from_date_or_timestamp})"


def datediff(first_date: Any, second_date: Any, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def date_trunc(datepart: str, date: Any) -> str:
    return f"date_trunc('{datepart}', {date})"


def last_day(date: Any, datepart: str = "month") -> str:
    return f"last_day({date})"


def generate_series(upper_bound: int) -> str:
    return f"select unnest(range(1, {int(upper_bound) + 1})) as generated_number"


def cast(field: Any, data_type: Any) -> str:
    return f"cast({field} as {data_type})"


def safe_cast(field: Any, data_type: Any) -> str:
    return f"try_cast({field} as {data_type})"


def concat(fields: list[Any]) -> str:
    return f"concat({', '.join(str(field) for field in fields)})"


def string_literal(value: Any) -> str:
    return f"'{value}'"


def type_numeric() -> str:
    return "numeric"


def type_string() -> str:
    return "varchar"


def type_timestamp() -> str:
    return "timestamp"


def type_int() -> str:
    return "integer"


def type_bigint() -> str:
    return "bigint"


def type_float() -> str:
    return "double"


def type_boolean() -> str:
    return "boolean"


def __getattr__(name: str) -> Callable[..., str]:
    """Render any other cross-database macro as a function call of the same name."""
    if name.startswith("__"):
        raise AttributeError(name)

    def render(*args: Any, **kwargs: Any) -> str:
        return f"{name}({', '.join(str(arg) for arg in (*args, *kwargs.values()))})"

    return render
