-- Paying accounts at risk on the as-of date: a churn risk tier of high or medium (the model's, or the
-- rule-based level when the account has no model score), or a health status of at_risk. ARR at risk is
-- ARR x churn probability.
with

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

churn_probability as (
    select * from {{ ref('int_cs__account_churn_probability') }}
),

final as (
    select
        snapshot.account_id,
        snapshot.as_of_date,
        snapshot.csm_id,
        snapshot.arr,
        snapshot.health_score,
        snapshot.health_status,
        snapshot.signal_count,
        snapshot.risk_share,
        churn_probability.churn_probability,
        churn_probability.risk_tier,
        churn_probability.probability_source,
        churn_probability.model_version,
        churn_probability.driver_1,
        churn_probability.driver_2,
        churn_probability.driver_3,
        snapshot.arr * churn_probability.churn_probability as arr_at_risk,
        snapshot.renewal_date
    from snapshot
    inner join churn_probability
        on snapshot.account_id = churn_probability.account_id
    where churn_probability.risk_tier in ('high', 'medium') or snapshot.health_status = 'at_risk'
)

select * from final
