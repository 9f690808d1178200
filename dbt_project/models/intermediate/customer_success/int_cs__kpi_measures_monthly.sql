-- The monthly measures behind marts.cs_kpis_monthly, one row per month of the revenue spine. States
-- (health, risk) are read on the month's last day, or on the as-of date in the as-of month.
with

retention as (
    select * from {{ ref('revenue_retention') }}
),

health as (
    select * from {{ ref('account_health_daily') }}
),

risk_signals as (
    select * from {{ ref('churn_risk_signals') }}
),

account_mrr as (
    select * from {{ ref('account_mrr_monthly') }}
),

activation as (
    select * from {{ ref('account_activation') }}
),

adoption as (
    select * from {{ ref('feature_adoption') }}
),

nps_responses as (
    select * from {{ ref('stg_crm__nps_responses') }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
),

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

months as (
    select
        monthly.month_start_date,
        case
            when cast({{ dbt.last_day('monthly.month_start_date', 'month') }} as date) > as_of.as_of_date
                then as_of.as_of_date
            else cast({{ dbt.last_day('monthly.month_start_date', 'month') }} as date)
        end as measured_date,
        monthly.logo_churn_rate,
        monthly.grr,
        monthly.nrr,
        monthly.quick_ratio,
        monthly.expansion_mrr,
        trailing_year.logo_churn_rate as logo_churn_rate_12m,
        trailing_year.nrr as nrr_12m
    from retention as monthly
    cross join as_of
    left join retention as trailing_year
        on
            monthly.month_start_date = trailing_year.month_start_date
            and trailing_year.window_name = 'trailing_12_months'
    where monthly.window_name = 'month'
),

nps_monthly as (
    select
        cast({{ dbt.date_trunc('month', 'answered_date') }} as date) as month_start_date,
        count(*) as nps_responses,
        100.0 * (
            sum(case when nps_category = 'promoter' then 1 else 0 end)
            - sum(case when nps_category = 'detractor' then 1 else 0 end)
        ) / count(*) as nps
    from nps_responses
    group by {{ dbt.date_trunc('month', 'answered_date') }}
),

time_to_value_monthly as (
    select
        cast({{ dbt.date_trunc('month', 'activation_date') }} as date) as month_start_date,
        {{ cs_median('days_to_activation') }} as median_days_to_activation
    from activation
    where activation_date is not null
    group by {{ dbt.date_trunc('month', 'activation_date') }}
),

daily_users as (
    select
        event_date,
        count(distinct user_id) as daily_active_users
    from events
    group by event_date
),

daily_users_monthly as (
    select
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as month_start_date,
        -- Days without any active user count as 0 in the month's average.
        1.0 * sum(daily_active_users) / max({{ dbt.datediff(
            dbt.date_trunc('month', 'event_date'), dbt.last_day('event_date', 'month'), 'day'
        ) }} + 1) as average_daily_active_users
    from daily_users
    group by {{ dbt.date_trunc('month', 'event_date') }}
),

monthly_users as (
    select
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as month_start_date,
        count(distinct user_id) as monthly_active_users
    from events
    group by {{ dbt.date_trunc('month', 'event_date') }}
),

stickiness_monthly as (
    select
        daily_users_monthly.month_start_date,
        daily_users_monthly.average_daily_active_users,
        monthly_users.monthly_active_users,
        daily_users_monthly.average_daily_active_users / monthly_users.monthly_active_users as dau_mau
    from daily_users_monthly
    inner join monthly_users
        on daily_users_monthly.month_start_date = monthly_users.month_start_date
),

adoption_monthly as (
    select
        month_start_date,
        avg(penetration) as average_feature_penetration
    from adoption
    group by month_start_date
),

tickets_monthly as (
    select
        cast({{ dbt.date_trunc('month', 'created_date') }} as date) as month_start_date,
        count(*) as tickets_opened,
        {{ cs_median('first_response_hours') }} as median_first_response_hours,
        {{ cs_median('resolution_hours') }} as median_resolution_hours
    from tickets
    group by {{ dbt.date_trunc('month', 'created_date') }}
),

states_monthly as (
    select
        months.month_start_date,
        count(health.account_id) as paying_accounts,
        avg(health.health_score) as average_health_score,
        cast(
            sum(case when health.health_status = 'healthy' then 1 else 0 end) as {{ dbt.type_bigint() }}
        ) as healthy_accounts,
        cast(
            sum(case when health.health_status = 'neutral' then 1 else 0 end) as {{ dbt.type_bigint() }}
        ) as neutral_accounts,
        cast(
            sum(case when health.health_status = 'at_risk' then 1 else 0 end) as {{ dbt.type_bigint() }}
        ) as at_risk_health_accounts,
        cast(
            sum(case when risk_signals.risk_level in ('high', 'medium') then 1 else 0 end) as {{ dbt.type_bigint() }}
        ) as accounts_at_risk,
        sum(case when risk_signals.risk_level in ('high', 'medium') then 12 * account_mrr.mrr else 0 end)
            as arr_at_risk
    from months
    inner join health
        on months.measured_date = health.date_day
    left join risk_signals
        on health.account_id = risk_signals.account_id and health.date_day = risk_signals.date_day
    left join account_mrr
        on health.account_id = account_mrr.account_id and months.month_start_date = account_mrr.month_start_date
    group by months.month_start_date
),

final as (
    select
        months.month_start_date,
        months.measured_date,
        months.logo_churn_rate,
        months.logo_churn_rate_12m,
        months.grr,
        months.nrr,
        months.nrr_12m,
        months.quick_ratio,
        months.expansion_mrr,
        nps_monthly.nps_responses,
        nps_monthly.nps,
        time_to_value_monthly.median_days_to_activation,
        stickiness_monthly.average_daily_active_users,
        stickiness_monthly.monthly_active_users,
        stickiness_monthly.dau_mau,
        adoption_monthly.average_feature_penetration,
        states_monthly.paying_accounts,
        states_monthly.average_health_score,
        states_monthly.healthy_accounts,
        states_monthly.neutral_accounts,
        states_monthly.at_risk_health_accounts,
        states_monthly.accounts_at_risk,
        states_monthly.arr_at_risk,
        coalesce(tickets_monthly.tickets_opened, 0) as tickets_opened,
        tickets_monthly.median_first_response_hours,
        tickets_monthly.median_resolution_hours
    from months
    left join nps_monthly on months.month_start_date = nps_monthly.month_start_date
    left join time_to_value_monthly on months.month_start_date = time_to_value_monthly.month_start_date
    left join stickiness_monthly on months.month_start_date = stickiness_monthly.month_start_date
    left join adoption_monthly on months.month_start_date = adoption_monthly.month_start_date
    left join states_monthly on months.month_start_date = states_monthly.month_start_date
    left join tickets_monthly on months.month_start_date = tickets_monthly.month_start_date
)

select * from final
