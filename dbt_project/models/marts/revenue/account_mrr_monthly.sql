-- Fills every month from an account's first month with MRR to the as-of month (0 where no
-- subscription counts) and classifies the change against the previous month.
with

account_mrr as (
    select * from {{ ref('int_account_mrr_monthly') }}
),

months as (
    select * from {{ ref('int_revenue_months') }}
),

first_mrr_months as (
    select
        account_id,
        min(month_start_date) as first_mrr_month_start_date
    from account_mrr
    where mrr > 0
    group by account_id
),

account_months as (
    select
        first_mrr_months.account_id,
        first_mrr_months.first_mrr_month_start_date,
        months.month_start_date,
        months.month_end_date,
        months.is_as_of_month
    from first_mrr_months
    inner join months
        on first_mrr_months.first_mrr_month_start_date <= months.month_start_date
),

filled as (
    select
        account_months.account_id,
        account_months.month_start_date,
        account_months.month_end_date,
        account_months.is_as_of_month,
        account_months.first_mrr_month_start_date,
        coalesce(account_mrr.mrr, 0) as mrr,
        coalesce(account_mrr.scheduled_churn_mrr, 0) as scheduled_churn_mrr,
        coalesce(account_mrr.counted_subscriptions, 0) as counted_subscriptions
    from account_months
    left join account_mrr
        on
            account_months.account_id = account_mrr.account_id
            and account_months.month_start_date = account_mrr.month_start_date
),

with_previous as (
    select
        *,
        lag(mrr) over (
            partition by account_id
            order by month_start_date
        ) as lagged_mrr
    from filled
),

final as (
    select
        account_id,
        month_start_date,
        month_end_date,
        is_as_of_month,
        first_mrr_month_start_date,
        {{ dbt.datediff('first_mrr_month_start_date', 'month_start_date', 'month') }} as months_since_first_mrr,
        cast(mrr as decimal(18, 2)) as mrr,
        cast(coalesce(lagged_mrr, 0) as decimal(18, 2)) as previous_mrr,
        case
            when lagged_mrr is null then 'new'
            when lagged_mrr = 0 and mrr > 0 then 'reactivation'
            when lagged_mrr > 0 and mrr = 0 then 'churn'
            when lagged_mrr = 0 and mrr = 0 then 'inactive'
            when mrr > lagged_mrr then 'expansion'
            when mrr < lagged_mrr then 'contraction'
            else 'unchanged'
        end as movement_type,
        cast(mrr - coalesce(lagged_mrr, 0) as decimal(18, 2)) as movement_amount,
        scheduled_churn_mrr > 0 as has_scheduled_churn,
        cast(scheduled_churn_mrr as decimal(18, 2)) as scheduled_churn_mrr,
        counted_subscriptions,
        {{ reporting_currency() }} as reporting_currency
    from with_previous
)

select * from final
