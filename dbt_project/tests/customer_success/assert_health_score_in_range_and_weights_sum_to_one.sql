-- Every health score lies in 0-100, and the renormalized weights of the components that have data sum
-- to 1. Returns the violating rows.
with

health as (
    select * from {{ ref('account_health_daily') }}
),

checked as (
    select
        account_id,
        date_day,
        health_score,
        coalesce(usage_weight, 0) + coalesce(engagement_weight, 0) + coalesce(satisfaction_weight, 0)
        + coalesce(growth_weight, 0) + coalesce(relationship_weight, 0) as weight_sum
    from health
)

select *
from checked
where
    health_score < 0
    or health_score > 100
    or abs(weight_sum - 1) > 0.00001
