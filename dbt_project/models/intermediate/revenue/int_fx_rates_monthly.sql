-- The rate that converts each subscription currency into the reporting currency in each month: the
-- rate of the month's last day, or the latest earlier rate when that day has none. The reporting
-- currency converts at 1. A currency with no rate on or before the month end gets a NULL rate.
with

months as (
    select * from {{ ref('int_revenue_months') }}
),

versions as (
    select * from {{ ref('int_subscription_versions') }}
),

fx_rates as (
    select * from {{ ref('stg_billing__fx_rates') }}
),

currencies as (
    select distinct currency
    from versions
    where currency is not null
),

currency_months as (
    select
        months.month_start_date,
        months.month_end_date,
        currencies.currency
    from months
    cross join currencies
),

ranked_rates as (
    select
        currency_months.month_start_date,
        currency_months.currency,
        fx_rates.rate_date,
        fx_rates.rate,
        row_number() over (
            partition by currency_months.month_start_date, currency_months.currency
            order by fx_rates.rate_date desc
        ) as rate_rank
    from currency_months
    inner join fx_rates
        on
            currency_months.currency = fx_rates.currency
            and currency_months.month_end_date >= fx_rates.rate_date
),

final as (
    select
        currency_months.month_start_date,
        currency_months.currency,
        case
            when currency_months.currency = {{ reporting_currency() }} then 1.0
            else ranked_rates.rate
        end as fx_rate,
        case
            when currency_months.currency = {{ reporting_currency() }} then null
            else ranked_rates.rate_date
        end as fx_rate_date
    from currency_months
    left join ranked_rates
        on
            currency_months.month_start_date = ranked_rates.month_start_date
            and currency_months.currency = ranked_rates.currency
            and ranked_rates.rate_rank = 1
)

select * from final
