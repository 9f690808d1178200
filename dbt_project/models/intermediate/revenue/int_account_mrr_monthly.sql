-- Sums the subscriptions' MRR per account and month. Only months in which the account has a
-- subscription version in effect appear, and the mart fills the months in between.
with

subscription_mrr as (
    select * from {{ ref('int_subscription_mrr_monthly') }}
),

final as (
    select
        account_id,
        month_start_date,
        sum(mrr) as mrr,
        sum(case when is_churn_scheduled then mrr else 0 end) as scheduled_churn_mrr,
        cast(sum(case when is_counted then 1 else 0 end) as {{ dbt.type_bigint() }}) as counted_subscriptions
    from subscription_mrr
    group by account_id, month_start_date
)

select * from final
