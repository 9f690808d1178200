-- Normalizes each item's price to one month: unit amount x quantity x months_factor, where
-- months_factor is how many billing intervals fall in a month (month: 1, a quarter billed as 3
-- months: 1/3, year: 1/12, week: 52/12, day: 365/12, each divided by the interval count).
-- The factor is kept as numerator / denominator and the division comes last, so that
-- 1200 x 52 / 12 gives exactly 5200. One-off prices (no interval) are not recurring revenue.
with

event_items as (
    select * from {{ ref('stg_billing__subscription_event_items') }}
),

prices as (
    select * from {{ ref('stg_billing__prices') }}
),

items as (
    select
        event_items.event_id,
        event_items.item_id,
        event_items.price_id,
        event_items.quantity,
        prices.unit_amount_minor,
        prices.currency as price_currency,
        prices.billing_interval,
        prices.interval_count,
        case prices.billing_interval
            when 'month' then 1
            when 'year' then 1
            when 'week' then 52
            when 'day' then 365
            else 0
        end as months_factor_numerator,
        case prices.billing_interval
            when 'month' then prices.interval_count
            else 12 * prices.interval_count
        end as months_factor_denominator
    from event_items
    left join prices
        on event_items.price_id = prices.price_id
),

final as (
    select
        event_id,
        item_id,
        price_id,
        quantity,
        unit_amount_minor,
        price_currency,
        billing_interval,
        interval_count,
        1.0 * months_factor_numerator / months_factor_denominator as months_factor,
        1.0 * unit_amount_minor * quantity * months_factor_numerator / months_factor_denominator
            as monthly_amount_minor
    from items
)

select * from final
