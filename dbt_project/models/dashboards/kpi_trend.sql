-- The monthly customer-success KPIs in long form (one value per KPI per month) for trend charts.
with

kpis as (
    select * from {{ ref('cs_kpis_monthly') }}
),

{%- set kpi_columns = [
    'logo_churn_rate', 'annual_logo_churn_rate', 'grr', 'nrr', 'nrr_12m', 'quick_ratio', 'expansion_mrr', 'nps',
    'median_days_to_activation', 'dau_mau', 'average_feature_penetration', 'average_health_score',
    'accounts_at_risk', 'arr_at_risk', 'tickets_opened', 'median_first_response_hours',
] %}

final as (
    {% for kpi in kpi_columns -%}
        select
            month_start_date,
            '{{ kpi }}' as kpi_name,
            cast({{ kpi }} as {{ dbt.type_float() }}) as kpi_value,
            maturity_stage
        from kpis
        {{ 'union all' if not loop.last }}
    {% endfor %}
)

select * from final
