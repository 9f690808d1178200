-- Renewal milestones as calendar entries: one row per renewal and milestone, dated per marts.renewals.
with

renewals as (
    select * from {{ ref('renewals') }}
),

final as (
    {% for days in [120, 90, 60, 30, 14] -%}
        select
            account_id,
            renewal_date,
            '{{ days }}_days' as milestone,
            milestone_{{ days }}_date as milestone_date,
            risk_tier,
            arr,
            forecast_renewal_arr,
            probability_source
        from renewals
        {{ 'union all' if not loop.last }}
    {% endfor %}
    union all
    select
        account_id,
        renewal_date,
        'renewal' as milestone,
        renewal_date as milestone_date,
        risk_tier,
        arr,
        forecast_renewal_arr,
        probability_source
    from renewals
)

select * from final
