-- Cohort retention cells for a heatmap: one row per first-MRR cohort month and months since, with logo
-- and revenue retention from marts.cohort_retention.
with

cohorts as (
    select * from {{ ref('cohort_retention') }}
),

final as (
    select
        cohort_month_start_date,
        months_since_first_mrr,
        cohort_accounts,
        logo_retention,
        revenue_retention
    from cohorts
)

select * from final
