-- Weekly engagement of each account, from its first active week to the as-of week. Weeks start on
-- Monday. DAU is the mean of the daily active users over the week's days on the account's spine, which
-- are fewer than 7 in its first week and in the as-of week. MAU counts the users active in the 28 days
-- ending on the week's last day on the spine.
with

usage_daily as (
    select * from {{ ref('int_cs__account_usage_daily') }}
),

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

weekly_users as (
    select
        account_id,
        cast({{ dbt.date_trunc('week', 'event_date') }} as date) as week_start_date,
        count(distinct user_id) as weekly_active_users
    from events
    group by account_id, {{ dbt.date_trunc('week', 'event_date') }}
),

daily as (
    select
        account_id,
        date_day,
        active_user_count,
        active_users_28d,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start_date,
        row_number() over (
            partition by account_id, {{ dbt.date_trunc('week', 'date_day') }} order by date_day desc
        ) as day_from_week_end
    from usage_daily
),

weekly as (
    select
        account_id,
        week_start_date,
        count(*) as days_in_week,
        1.0 * sum(active_user_count) / count(*) as daily_active_users,
        max(case when day_from_week_end = 1 then active_users_28d end) as monthly_active_users
    from daily
    group by account_id, week_start_date
),

with_activity as (
    select
        weekly.account_id,
        weekly.week_start_date,
        weekly.days_in_week,
        weekly.daily_active_users,
        coalesce(weekly_users.weekly_active_users, 0) as weekly_active_users,
        weekly.monthly_active_users,
        min(case when weekly_users.weekly_active_users > 0 then weekly.week_start_date end) over (
            partition by weekly.account_id
        ) as first_active_week_start_date,
        lag(coalesce(weekly_users.weekly_active_users, 0)) over (
            partition by weekly.account_id order by weekly.week_start_date
        ) as previous_week_active_users
    from weekly
    left join weekly_users
        on weekly.account_id = weekly_users.account_id and weekly.week_start_date = weekly_users.week_start_date
),

final as (
    select
        account_id,
        week_start_date,
        days_in_week,
        daily_active_users,
        weekly_active_users,
        monthly_active_users,
        case when monthly_active_users > 0 then daily_active_users / monthly_active_users end as stickiness,
        case
            when week_start_date = first_active_week_start_date then 'new'
            when weekly_active_users > 0 and previous_week_active_users > 0 then 'returning'
            when weekly_active_users > 0 then 'resurrecting'
            else 'dormant'
        end as lifecycle_stage
    from with_activity
    where week_start_date >= first_active_week_start_date
)

select * from final
