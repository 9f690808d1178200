-- Each subscription event's data.object is the full subscription after the change, so every event
-- starts a version that lasts until the next event of the same subscription. A canceled version
-- starts when access ended (ended_at), not when the cancellation was requested. Timestamps with a
-- _local suffix are wall-clock times in the reporting timezone.
with

subscription_events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

customers as (
    select * from {{ ref('stg_billing__customers') }}
),

versions as (
    select
        subscription_events.event_id,
        subscription_events.subscription_id,
        subscription_events.customer_id,
        customers.account_id,
        subscription_events.event_type,
        subscription_events.event_created_at,
        subscription_events.status,
        subscription_events.currency,
        subscription_events.is_cancel_at_period_end,
        subscription_events.cancel_at,
        subscription_events.ended_at,
        subscription_events.discount_coupon_id,
        subscription_events.discount_percent_off,
        subscription_events.discount_amount_off_minor,
        subscription_events.discount_duration,
        subscription_events.discount_duration_in_months,
        case
            when subscription_events.status = 'canceled' and subscription_events.ended_at is not null
                then subscription_events.ended_at
            else subscription_events.event_created_at
        end as valid_from_at,
        -- When access ends for this version: the end already recorded, else a scheduled one.
        case
            when subscription_events.ended_at is not null then subscription_events.ended_at
            when subscription_events.cancel_at is not null then subscription_events.cancel_at
            when subscription_events.is_cancel_at_period_end then subscription_events.current_period_end_at
        end as access_ends_at,
        subscription_events.discount_start_at,
        subscription_events.discount_end_at
    from subscription_events
    left join customers
        on subscription_events.customer_id = customers.customer_id
),

intervals as (
    select
        *,
        lead(valid_from_at) over (
            partition by subscription_id
            order by valid_from_at, event_created_at, event_id
        ) as valid_to_at
    from versions
),

final as (
    select
        event_id,
        subscription_id,
        customer_id,
        account_id,
        event_type,
        status,
        currency,
        is_cancel_at_period_end,
        cancel_at is not null or is_cancel_at_period_end as is_cancellation_scheduled,
        ended_at,
        discount_coupon_id,
        discount_percent_off,
        discount_amount_off_minor,
        discount_duration,
        discount_duration_in_months,
        {{ to_reporting_timezone('valid_from_at') }} as valid_from_local,
        {{ to_reporting_timezone('valid_to_at') }} as valid_to_local,
        {{ to_reporting_timezone('access_ends_at') }} as access_ends_local,
        {{ to_reporting_timezone('discount_start_at') }} as discount_starts_local,
        {{ to_reporting_timezone('discount_end_at') }} as discount_ends_local
    from intervals
)

select * from final
