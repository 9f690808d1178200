-- The at-risk accounts of the as-of date with their CSM's name, highest ARR at risk first.
with

at_risk as (
    select * from {{ ref('at_risk_accounts') }}
),

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

csms as (
    select * from {{ ref('stg_crm__csms') }}
),

final as (
    select
        at_risk.account_id,
        accounts.account_name,
        csms.csm_name,
        at_risk.as_of_date,
        at_risk.arr,
        at_risk.arr_at_risk,
        at_risk.churn_probability,
        at_risk.risk_tier,
        at_risk.probability_source,
        at_risk.health_score,
        at_risk.health_status,
        at_risk.driver_1,
        at_risk.renewal_date,
        row_number() over (order by at_risk.arr_at_risk desc, at_risk.account_id asc) as risk_rank
    from at_risk
    inner join accounts
        on at_risk.account_id = accounts.account_id
    left join csms
        on at_risk.csm_id = csms.csm_id
)

select * from final
