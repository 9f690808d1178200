-- Adoption of each catalog feature in each month, among the accounts active that month (any tracked
-- event). Penetration = adopting accounts / active accounts; frequency = uses per adopting account;
-- repeat use = share of adopting accounts that used the feature on 2 or more distinct days of the month.
with

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

features as (
    select * from {{ ref('stg_product__features') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

monthly_events as (
    select
        account_id,
        event_name,
        event_date,
        event_count,
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as month_start_date
    from events
),

active_accounts as (
    select
        month_start_date,
        count(distinct account_id) as active_accounts
    from monthly_events
    group by month_start_date
),

catalog_features as (
    select distinct feature_name
    from features
    where is_feature
),

feature_months as (
    select
        catalog_features.feature_name,
        active_accounts.month_start_date,
        active_accounts.active_accounts
    from catalog_features
    cross join active_accounts
),

account_feature_use as (
    select
        monthly_events.account_id,
        features.feature_name,
        monthly_events.month_start_date,
        sum(monthly_events.event_count) as use_count,
        count(distinct monthly_events.event_date) as use_days
    from monthly_events
    inner join features
        on monthly_events.event_name = features.event_name
    where features.is_feature
    group by monthly_events.account_id, features.feature_name, monthly_events.month_start_date
),

feature_use as (
    select
        feature_name,
        month_start_date,
        count(*) as adopting_accounts,
        cast(sum(use_count) as {{ dbt.type_bigint() }}) as use_count,
        sum(case when use_days >= 2 then 1 else 0 end) as repeat_accounts
    from account_feature_use
    group by feature_name, month_start_date
),

measured as (
    select
        feature_months.feature_name,
        feature_months.month_start_date,
        feature_months.month_start_date = cast({{ dbt.date_trunc('month', 'as_of.as_of_date') }} as date)
            as is_as_of_month,
        feature_months.active_accounts,
        coalesce(feature_use.adopting_accounts, 0) as adopting_accounts,
        coalesce(feature_use.use_count, 0) as use_count,
        coalesce(feature_use.repeat_accounts, 0) as repeat_accounts,
        round(1.0 * coalesce(feature_use.adopting_accounts, 0) / feature_months.active_accounts, 6) as penetration
    from feature_months
    cross join as_of
    left join feature_use
        on
            feature_months.feature_name = feature_use.feature_name
            and feature_months.month_start_date = feature_use.month_start_date
),

final as (
    select
        feature_name,
        month_start_date,
        is_as_of_month,
        active_accounts,
        adopting_accounts,
        use_count,
        penetration,
        case
            when adopting_accounts > 0 then round(1.0 * use_count / adopting_accounts, 6)
        end as uses_per_adopting_account,
        case
            when adopting_accounts > 0 then round(1.0 * repeat_accounts / adopting_accounts, 6)
        end as repeat_use_rate,
        case
            when penetration >= 0.7 then 'advocating'
            when penetration >= 0.5 then 'adopted'
            when penetration >= 0.3 then 'engaged'
            when penetration >= 0.1 then 'aware'
            else 'none'
        end as adoption_stage
    from measured
)

select * from final
