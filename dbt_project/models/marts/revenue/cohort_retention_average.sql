-- Pools all cohorts that have reached a given month since their first MRR: summing numerators and
-- denominators weights each cohort by its size (accounts for logo retention, starting MRR for
-- revenue retention), and a cohort that lost every account still counts with 0 %.
with

cohorts as (
    select * from {{ ref('cohort_retention') }}
),

final as (
    select
        months_since_first_mrr,
        count(*) as cohorts,
        cast(sum(cohort_accounts) as {{ dbt.type_bigint() }}) as cohort_accounts,
        cast(sum(retained_accounts) as {{ dbt.type_bigint() }}) as retained_accounts,
        cast(round(1.0 * sum(retained_accounts) / sum(cohort_accounts), 6) as decimal(18, 6)) as logo_retention,
        cast(sum(cohort_starting_mrr) as decimal(18, 2)) as cohort_starting_mrr,
        cast(sum(mrr) as decimal(18, 2)) as mrr,
        cast(round(sum(mrr) / sum(cohort_starting_mrr), 6) as decimal(18, 6)) as revenue_retention,
        {{ reporting_currency() }} as reporting_currency
    from cohorts
    group by months_since_first_mrr
)

select * from final
