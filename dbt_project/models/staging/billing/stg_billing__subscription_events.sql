with

source as (
    select * from {{ source('raw', 'billing_subscription_events') }}
),

renamed as (
    select
        event_id,
        event_type,
        event_created_at,
        previous_attributes,
        subscription_id,
        customer_id,
        status,
        lower(currency) as currency,
        created_at,
        started_at,
        trial_start_at,
        trial_end_at,
        current_period_start_at,
        current_period_end_at,
        coalesce(cancel_at_period_end, false) as is_cancel_at_period_end,
        cancel_at,
        canceled_at,
        ended_at,
        discount_coupon_id,
        discount_percent_off,
        discount_amount_off as discount_amount_off_minor,
        discount_duration,
        discount_duration_in_months,
        discount_start_at,
        discount_end_at,
        pause_behavior
    from source
)

select * from renamed
