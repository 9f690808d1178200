-- Track calls that can be attributed to an account and a user. Identify, group and page calls carry
-- no product action, and future-dated events (client clocks beyond the tolerance) are left out.
with

source as (
    select * from {{ source('raw', 'events') }}
),

track_calls as (
    select
        message_id,
        account_id,
        user_id,
        event_name,
        event_at,
        cast({{ to_reporting_timezone('event_at') }} as date) as event_date
    from source
    where
        event_type = 'track'
        and account_id is not null
        and user_id is not null
        and event_name is not null
        and not coalesce(is_future_dated, false)
)

select * from track_calls
