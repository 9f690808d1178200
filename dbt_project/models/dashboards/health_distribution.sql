-- Paying accounts per health status on the last day of each month (the as-of date in the as-of month).
with

health as (
    select * from {{ ref('account_health_daily') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

measured_days as (
    select
        health.account_id,
        health.date_day,
        health.health_status,
        health.health_score,
        cast({{ dbt.date_trunc('month', 'health.date_day') }} as date) as month_start_date
    from health
    cross join as_of
    where
        health.date_day = cast({{ dbt.last_day('health.date_day', 'month') }} as date)
        or health.date_day = as_of.as_of_date
),

final as (
    select
        month_start_date,
        max(date_day) as measured_date,
        health_status,
        count(*) as account_count,
        avg(health_score) as average_health_score
    from measured_days
    group by month_start_date, health_status
)

select * from final
