-- Each CRM account on the as-of date: billing state, usage, health and rule-based risk in one row, the
-- input of the current-state marts (expansion, advocacy, segments, at-risk accounts, renewals).
-- MRR is the as-of month's MRR of marts.account_mrr_monthly (measured at the as-of instant); ARR = 12 x MRR.
-- The revenue marts and this model read the same as-of instant (int_as_of_date), so the as-of month's MRR
-- is measured on as_of_date.
with

account_daily as (
    select * from {{ ref('int_cs__account_daily') }}
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

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

features as (
    select * from {{ ref('stg_product__features') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

paying_history as (
    select
        account_id,
        min(case when is_paying then date_day end) as first_paying_date
    from account_daily
    group by account_id
),

mrr_history as (
    select
        account_id,
        max(case when is_as_of_month then mrr end) as mrr,
        max(case when movement_type = 'expansion' then 1 else 0 end) = 1 as has_expansion_on_record
    from account_mrr
    group by account_id
),

premium_catalog as (
    select distinct feature_name
    from features
    where is_feature and is_premium
),

recent_premium_use as (
    select
        events.account_id,
        count(distinct features.feature_name) as premium_features_used_90d
    from events
    inner join features
        on events.event_name = features.event_name
    cross join as_of
    where
        features.is_feature
        and features.is_premium
        and events.event_date > {{ dbt.dateadd('day', -90, 'as_of.as_of_date') }}
    group by events.account_id
),

final as (
    select
        account_daily.account_id,
        account_daily.date_day as as_of_date,
        account_daily.csm_id,
        account_daily.employee_count,
        account_daily.is_paying,
        paying_history.first_paying_date,
        account_daily.seat_count,
        account_daily.active_users_30d,
        account_daily.renewal_date,
        account_daily.latest_nps_score,
        account_daily.latest_nps_date,
        coalesce(mrr_history.mrr, 0) as mrr,
        12 * coalesce(mrr_history.mrr, 0) as arr,
        coalesce(mrr_history.has_expansion_on_record, false) as has_expansion_on_record,
        (select count(*) from premium_catalog) - coalesce(recent_premium_use.premium_features_used_90d, 0)
            as premium_features_unused_90d,
        health.health_score,
        health.health_status,
        health.is_usage_risk,
        health.is_satisfaction_risk,
        risk_signals.signal_count,
        risk_signals.risk_share,
        risk_signals.risk_level
    from account_daily
    inner join as_of
        on account_daily.date_day = as_of.as_of_date
    left join paying_history
        on account_daily.account_id = paying_history.account_id
    left join mrr_history
        on account_daily.account_id = mrr_history.account_id
    left join recent_premium_use
        on account_daily.account_id = recent_premium_use.account_id
    left join health
        on account_daily.account_id = health.account_id and account_daily.date_day = health.date_day
    left join risk_signals
        on account_daily.account_id = risk_signals.account_id and account_daily.date_day = risk_signals.date_day
)

select * from final
