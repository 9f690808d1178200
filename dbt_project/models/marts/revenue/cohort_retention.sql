-- Cohorts are accounts grouped by the month of their first MRR. Every account has a row in every
-- month from its first MRR month to the as-of month, so each cohort has a cell for each month
-- since it started, and month 0 is 100 % by construction.
with

account_mrr as (
    select * from {{ ref('account_mrr_monthly') }}
),

cohort_sizes as (
    select
        first_mrr_month_start_date as cohort_month_start_date,
        count(*) as cohort_accounts,
        sum(mrr) as cohort_starting_mrr
    from account_mrr
    where month_start_date = first_mrr_month_start_date
    group by first_mrr_month_start_date
),

cells as (
    select
        first_mrr_month_start_date as cohort_month_start_date,
        months_since_first_mrr,
        month_start_date,
        cast(sum(case when mrr > 0 then 1 else 0 end) as {{ dbt.type_bigint() }}) as retained_accounts,
        sum(mrr) as mrr
    from account_mrr
    group by first_mrr_month_start_date, months_since_first_mrr, month_start_date
),

final as (
    select
        cells.cohort_month_start_date,
        cells.months_since_first_mrr,
        cells.month_start_date,
        cohort_sizes.cohort_accounts,
        cells.retained_accounts,
        cast(round(1.0 * cells.retained_accounts / cohort_sizes.cohort_accounts, 6) as decimal(18, 6))
            as logo_retention,
        cast(cohort_sizes.cohort_starting_mrr as decimal(18, 2)) as cohort_starting_mrr,
        cast(cells.mrr as decimal(18, 2)) as mrr,
        cast(round(cells.mrr / cohort_sizes.cohort_starting_mrr, 6) as decimal(18, 6)) as revenue_retention,
        {{ reporting_currency() }} as reporting_currency
    from cells
    inner join cohort_sizes
        on cells.cohort_month_start_date = cohort_sizes.cohort_month_start_date
)

select * from final
