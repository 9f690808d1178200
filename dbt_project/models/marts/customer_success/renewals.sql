-- Upcoming renewals of annual contracts of paying accounts on the as-of date. Monthly plans renew every
-- month without a contract decision, so they have no row. Milestones fall 120, 90, 60, 30 and 14 days
-- before the renewal, 1.5 times earlier (180, 135, 90, 45, 21) when the churn risk tier is high.
-- Forecast renewal ARR = ARR x (1 - churn probability).
with

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

churn_probability as (
    select * from {{ ref('int_cs__account_churn_probability') }}
),

renewing as (
    select
        snapshot.account_id,
        snapshot.as_of_date,
        snapshot.csm_id,
        snapshot.renewal_date,
        {{ dbt.datediff('snapshot.as_of_date', 'snapshot.renewal_date', 'day') }} as days_to_renewal,
        snapshot.arr,
        churn_probability.churn_probability,
        churn_probability.risk_tier,
        churn_probability.probability_source,
        case when churn_probability.risk_tier = 'high' then 1.5 else 1.0 end as milestone_lead_factor
    from snapshot
    inner join churn_probability
        on snapshot.account_id = churn_probability.account_id
    where snapshot.renewal_date is not null
),

final as (
    select
        account_id,
        as_of_date,
        csm_id,
        renewal_date,
        days_to_renewal,
        arr,
        churn_probability,
        risk_tier,
        probability_source,
        arr * (1 - churn_probability) as forecast_renewal_arr,
        milestone_lead_factor,
        {% for days in [120, 90, 60, 30, 14] -%}
            {%- set lead_days = 'cast(' ~ days ~ ' * milestone_lead_factor as integer)' %}
            cast({{ dbt.dateadd('day', '-' ~ lead_days, 'renewal_date') }} as date) as milestone_{{ days }}_date,
        {% endfor -%}
        case
            {% for days in [14, 30, 60, 90, 120] -%}
                when days_to_renewal <= {{ days }} * milestone_lead_factor then '{{ days }}_days'
            {% endfor -%}
            else 'none'
        end as current_milestone
    from renewing
)

select * from final
