{#- Money helpers. Billing amounts arrive as integers in the currency's minor unit (Stripe's
    convention); the marts hold DECIMAL(18, 2) amounts in the reporting currency. -#}

{#- Major units per minor unit of a lowercase ISO 4217 currency column: 1 for Stripe's
    zero-decimal currencies, 0.01 for every other one. -#}
{% macro major_units_per_minor_unit(currency_column) -%}
    case
        when {{ currency_column }} in (
            'bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga',
            'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf'
        ) then 1.00
        else 0.01
    end
{%- endmacro %}

{#- Convert a minor-unit amount into the reporting currency at `rate_column`, rounded half away
    from zero to the cent and typed DECIMAL(18, 2). The amount and the rate are cast to decimals
    with 8 places first, so the rounding is decimal and does not depend on binary floating point.
    NULL when the rate is NULL, so a missing FX rate stays visible. -#}
{% macro to_reporting_amount(minor_amount_column, currency_column, rate_column) -%}
    cast(
        round(
            cast({{ minor_amount_column }} as decimal(38, 8))
            * cast({{ rate_column }} as decimal(38, 8))
            * {{ major_units_per_minor_unit(currency_column) }},
            2
        ) as decimal(18, 2)
    )
{%- endmacro %}
