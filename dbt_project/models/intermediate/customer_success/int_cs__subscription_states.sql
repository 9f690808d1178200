-- Each subscription's history as a sequence of states, rebuilt from the subscription change events:
-- a state lasts from the day of its event until the day of the next event of the same subscription.
-- When several events fall on one day, only the last one of the day covers any day.
with

subscription_events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

event_items as (
    select * from {{ ref('stg_billing__subscription_event_items') }}
),

prices as (
    select * from {{ ref('stg_billing__prices') }}
),

customers as (
    select * from {{ ref('stg_billing__customers') }}
),

event_terms as (
    select
        event_items.event_id,
        cast(sum(event_items.quantity) as {{ dbt.type_bigint() }}) as seat_count,
        -- A contract renews once a year or less often: yearly prices, or monthly ones billed 12+ months at once.
        max(
            case
                when prices.billing_interval = 'year' then 1
                when prices.billing_interval = 'month' and prices.interval_count >= 12 then 1
                else 0
            end
        ) = 1 as is_annual_term
    from event_items
    left join prices
        on event_items.price_id = prices.price_id
    group by event_items.event_id
),

states as (
    select
        subscription_events.event_id,
        subscription_events.subscription_id,
        customers.account_id,
        subscription_events.status,
        subscription_events.event_created_at as valid_from_at,
        lead(subscription_events.event_created_at) over (
            partition by subscription_events.subscription_id
            order by subscription_events.event_created_at, subscription_events.event_id
        ) as valid_to_at,
        subscription_events.current_period_end_at,
        subscription_events.status in ('active', 'past_due') as is_paying,
        coalesce(event_terms.seat_count, 0) as seat_count,
        coalesce(event_terms.is_annual_term, false) as is_annual_term
    from subscription_events
    inner join customers
        on subscription_events.customer_id = customers.customer_id
    left join event_terms
        on subscription_events.event_id = event_terms.event_id
),

final as (
    select
        event_id,
        subscription_id,
        account_id,
        status,
        is_paying,
        seat_count,
        is_annual_term,
        valid_from_at,
        valid_to_at,
        cast({{ to_reporting_timezone('valid_from_at') }} as date) as valid_from_date,
        cast({{ to_reporting_timezone('valid_to_at') }} as date) as valid_to_date,
        cast({{ to_reporting_timezone('current_period_end_at') }} as date) as current_period_end_date
    from states
)

select * from final
