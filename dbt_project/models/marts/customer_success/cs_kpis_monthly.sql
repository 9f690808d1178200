-- Customer-success KPIs per month and the CS maturity stage they imply. The stage reads annual logo
-- churn (the trailing-12-month rate, or the monthly rate annualized as 1 - (1 - monthly)^12 before 12
-- months of history exist), the month's NPS and the trailing-12-month NRR, checked from the top:
-- revenue_driving (churn < 2 %, NPS > 70, NRR > 120 %), strategic (churn < 5 %, NPS > 50), proactive
-- (churn <= 10 %), reactive (the rest: churn > 10 %).
with

measures as (
    select * from {{ ref('int_cs__kpi_measures_monthly') }}
),

annualized as (
    select
        *,
        coalesce(logo_churn_rate_12m, 1 - power(1 - logo_churn_rate, 12)) as annual_logo_churn_rate
    from measures
),

final as (
    select
        month_start_date,
        measured_date,
        logo_churn_rate,
        annual_logo_churn_rate,
        grr,
        nrr,
        nrr_12m,
        quick_ratio,
        expansion_mrr,
        nps_responses,
        nps,
        median_days_to_activation,
        average_daily_active_users,
        monthly_active_users,
        dau_mau,
        average_feature_penetration,
        paying_accounts,
        average_health_score,
        healthy_accounts,
        neutral_accounts,
        at_risk_health_accounts,
        accounts_at_risk,
        arr_at_risk,
        tickets_opened,
        median_first_response_hours,
        median_resolution_hours,
        case
            when annual_logo_churn_rate is null then null
            when annual_logo_churn_rate < 0.02 and nps > 70 and nrr_12m > 1.2 then 'revenue_driving'
            when annual_logo_churn_rate < 0.05 and nps > 50 then 'strategic'
            when annual_logo_churn_rate <= 0.10 then 'proactive'
            else 'reactive'
        end as maturity_stage,
        coalesce(median_days_to_activation > 14, false) as is_time_to_value_bottleneck,
        coalesce(average_feature_penetration < 0.5, false) as is_feature_adoption_bottleneck,
        coalesce(logo_churn_rate > 0.05, false) as is_churn_bottleneck
    from annualized
)

select * from final
