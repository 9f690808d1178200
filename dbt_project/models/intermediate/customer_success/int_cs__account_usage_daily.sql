-- Product usage of each account on each day of its spine, with the trailing windows the health score,
-- the risk signals and the engagement mart read, from the daily event counts per user and event name.
-- A session is a user's run of events with no gap of more than 30 minutes; it counts on the day it
-- starts. Distinct users and features over a trailing window come from the +1/-1 changes of
-- cs_trailing_distinct_changes, summed up to each day.
with

spine as (
    select * from {{ ref('int_cs__account_day_spine') }}
),

features as (
    select * from {{ ref('stg_product__features') }}
),

-- The event model is read by two scans rather than one shared CTE: DuckDB materializes a CTE that
-- several parts read, which at 10 M events held 8.6 M rows in memory.
user_days as (
    select
        account_id,
        user_id,
        event_date,
        sum(event_count) as event_count,
        sum(session_start_count) as session_count
    from {{ ref('int_product__user_event_days') }}
    group by account_id, user_id, event_date
),

feature_days as (
    select distinct
        events.account_id,
        features.feature_name,
        events.event_date
    from {{ ref('int_product__user_event_days') }} as events
    inner join features
        on events.event_name = features.event_name
    where features.is_feature
),

daily_events as (
    select
        account_id,
        event_date as date_day,
        cast(sum(event_count) as {{ dbt.type_bigint() }}) as event_count,
        cast(sum(session_count) as {{ dbt.type_bigint() }}) as session_count,
        count(*) as active_user_count
    from user_days
    group by account_id, event_date
),

-- +1 on the days a key starts counting and -1 on the days it stops, one column per trailing count.
all_changes as (
    select
        account_id,
        change_date,
        users_28d_change,
        users_30d_change,
        0 as features_30d_change
    from (
        {{ cs_trailing_distinct_changes(
            'user_days', 'user_id', 'event_date', {'users_28d_change': 28, 'users_30d_change': 30}
        ) }}
    ) as user_changes
    union all
    select
        account_id,
        change_date,
        0 as users_28d_change,
        0 as users_30d_change,
        features_30d_change
    from (
        {{ cs_trailing_distinct_changes('feature_days', 'feature_name', 'event_date', {'features_30d_change': 30}) }}
    ) as feature_changes
),

daily_changes as (
    select
        account_id,
        change_date as date_day,
        sum(users_28d_change) as users_28d_change,
        sum(users_30d_change) as users_30d_change,
        sum(features_30d_change) as features_30d_change
    from all_changes
    group by account_id, change_date
),

product_start as (
    select min(date_day) as first_event_date
    from daily_events
),

joined as (
    select
        spine.account_id,
        spine.date_day,
        coalesce(daily_events.event_count, 0) as event_count,
        coalesce(daily_events.active_user_count, 0) as active_user_count,
        coalesce(daily_events.session_count, 0) as session_count,
        case when daily_events.event_count > 0 then 1 else 0 end as is_active_day,
        coalesce(daily_changes.users_28d_change, 0) as users_28d_change,
        coalesce(daily_changes.users_30d_change, 0) as users_30d_change,
        coalesce(daily_changes.features_30d_change, 0) as features_30d_change,
        product_start.first_event_date
    from spine
    cross join product_start
    left join daily_events
        on spine.account_id = daily_events.account_id and spine.date_day = daily_events.date_day
    left join daily_changes
        on spine.account_id = daily_changes.account_id and spine.date_day = daily_changes.date_day
),

windows as (
    select
        account_id,
        date_day,
        event_count,
        active_user_count,
        session_count,
        is_active_day,
        {{ cs_trailing_sum('is_active_day', 30) }} as active_days_30d,
        {{ cs_trailing_sum('active_user_count', 28) }} as user_days_28d,
        {{ cs_trailing_sum('event_count', 30) }} as event_count_30d,
        {{ cs_trailing_sum('event_count', 30, offset_days=30) }} as event_count_previous_30d,
        {{ cs_trailing_sum('session_count', 30) }} as session_count_30d,
        {{ cs_trailing_sum('is_active_day', 7) }} as active_days_week_1,
        {{ cs_trailing_sum('is_active_day', 7, offset_days=7) }} as active_days_week_2,
        {{ cs_trailing_sum('is_active_day', 7, offset_days=14) }} as active_days_week_3,
        {{ cs_trailing_sum('is_active_day', 7, offset_days=21) }} as active_days_week_4,
        sum(users_28d_change) over (
            partition by account_id order by date_day rows between unbounded preceding and current row
        ) as active_users_28d,
        sum(users_30d_change) over (
            partition by account_id order by date_day rows between unbounded preceding and current row
        ) as active_users_30d,
        sum(features_30d_change) over (
            partition by account_id order by date_day rows between unbounded preceding and current row
        ) as features_used_30d,
        max(case when is_active_day = 1 then date_day end) over (
            partition by account_id order by date_day rows between unbounded preceding and current row
        ) as last_active_date,
        first_event_date
    from joined
),

final as (
    select
        account_id,
        date_day,
        event_count,
        active_user_count,
        session_count,
        is_active_day = 1 as is_active_day,
        cast(active_days_30d as {{ dbt.type_bigint() }}) as active_days_30d,
        -- Average daily active users over the trailing 28 days; days before the spine count as 0.
        user_days_28d / 28.0 as average_daily_users_28d,
        cast(event_count_30d as {{ dbt.type_bigint() }}) as event_count_30d,
        cast(coalesce(event_count_previous_30d, 0) as {{ dbt.type_bigint() }}) as event_count_previous_30d,
        cast(session_count_30d as {{ dbt.type_bigint() }}) as session_count_30d,
        case when active_days_week_1 > 0 then 1 else 0 end
        + case when active_days_week_2 > 0 then 1 else 0 end
        + case when active_days_week_3 > 0 then 1 else 0 end
        + case when active_days_week_4 > 0 then 1 else 0 end as active_weeks_4w,
        cast(active_users_28d as {{ dbt.type_bigint() }}) as active_users_28d,
        cast(active_users_30d as {{ dbt.type_bigint() }}) as active_users_30d,
        cast(features_used_30d as {{ dbt.type_bigint() }}) as features_used_30d,
        last_active_date,
        coalesce(date_day >= first_event_date, false) as has_product_data
    from windows
)

select * from final
