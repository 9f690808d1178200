-- Returns every month where the accounts' MRR in the mart differs from the sum of the subscriptions'
-- MRR, so that no subscription revenue is lost between the intermediate models and the mart.
-- The test reads two models, so its meta names the model it is a Dagster asset check of.
{{ config(meta={'dagster': {'ref': {'name': 'account_mrr_monthly'}}}) }}
with

accounts as (
    select
        month_start_date,
        sum(mrr) as account_mrr
    from {{ ref('account_mrr_monthly') }}
    group by month_start_date
),

subscriptions as (
    select
        month_start_date,
        sum(mrr) as subscription_mrr
    from {{ ref('int_subscription_mrr_monthly') }}
    group by month_start_date
),

compared as (
    select
        subscriptions.month_start_date,
        subscriptions.subscription_mrr,
        coalesce(accounts.account_mrr, 0) as account_mrr
    from subscriptions
    left join accounts
        on subscriptions.month_start_date = accounts.month_start_date
)

select * from compared
where subscription_mrr <> account_mrr
