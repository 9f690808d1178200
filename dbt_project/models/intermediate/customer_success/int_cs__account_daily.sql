-- One row per account per day of its spine with every input of the health score and the risk signals,
-- so the marts that score them read one relation. Growth compares the last completed month's MRR
-- with the MRR three months before it, and today's seats with the seats 90 days earlier.
with

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

features as (
    select * from {{ ref('stg_product__features') }}
),

usage_daily as (
    select * from {{ ref('int_cs__account_usage_daily') }}
),

crm_daily as (
    select * from {{ ref('int_cs__account_crm_daily') }}
),

billing_daily as (
    select * from {{ ref('int_cs__account_billing_daily') }}
),

account_mrr as (
    select * from {{ ref('account_mrr_monthly') }}
),

feature_catalog as (
    select count(distinct feature_name) as features_available
    from features
    where is_feature
),

joined as (
    select
        usage_daily.account_id,
        usage_daily.date_day,
        accounts.csm_id,
        accounts.employee_count,
        accounts.created_date,
        usage_daily.event_count,
        usage_daily.active_user_count,
        usage_daily.is_active_day,
        usage_daily.active_days_30d,
        usage_daily.average_daily_users_28d,
        usage_daily.event_count_30d,
        usage_daily.event_count_previous_30d,
        usage_daily.session_count_30d,
        usage_daily.active_weeks_4w,
        usage_daily.active_users_28d,
        usage_daily.active_users_30d,
        usage_daily.features_used_30d,
        feature_catalog.features_available,
        usage_daily.last_active_date,
        usage_daily.has_product_data,
        crm_daily.ticket_count_30d,
        crm_daily.csat_average_90d,
        crm_daily.latest_nps_score,
        crm_daily.latest_nps_date,
        crm_daily.touch_count_90d,
        crm_daily.competitor_mention_count_90d,
        crm_daily.champions_left_90d,
        crm_daily.champion_count,
        billing_daily.is_paying,
        billing_daily.seat_count,
        lag(billing_daily.seat_count, 90) over (
            partition by usage_daily.account_id order by usage_daily.date_day
        ) as seat_count_90d_earlier,
        billing_daily.renewal_date,
        billing_daily.overdue_invoice_count,
        cast({{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'usage_daily.date_day')) }} as date)
            as last_completed_month_start_date
    from usage_daily
    inner join accounts
        on usage_daily.account_id = accounts.account_id
    inner join crm_daily
        on usage_daily.account_id = crm_daily.account_id and usage_daily.date_day = crm_daily.date_day
    inner join billing_daily
        on usage_daily.account_id = billing_daily.account_id and usage_daily.date_day = billing_daily.date_day
    cross join feature_catalog
),

final as (
    select
        joined.account_id,
        joined.date_day,
        joined.csm_id,
        joined.employee_count,
        joined.created_date,
        joined.event_count,
        joined.active_user_count,
        joined.is_active_day,
        joined.active_days_30d,
        joined.average_daily_users_28d,
        joined.event_count_30d,
        joined.event_count_previous_30d,
        joined.session_count_30d,
        joined.active_weeks_4w,
        joined.active_users_28d,
        joined.active_users_30d,
        joined.features_used_30d,
        joined.features_available,
        joined.last_active_date,
        joined.has_product_data,
        joined.ticket_count_30d,
        joined.csat_average_90d,
        joined.latest_nps_score,
        joined.latest_nps_date,
        joined.touch_count_90d,
        joined.competitor_mention_count_90d,
        joined.champions_left_90d,
        joined.champion_count,
        joined.is_paying,
        joined.seat_count,
        joined.seat_count_90d_earlier,
        joined.renewal_date,
        joined.overdue_invoice_count,
        last_month.mrr as mrr_last_month,
        earlier_month.mrr as mrr_three_months_earlier
    from joined
    left join account_mrr as last_month
        on
            joined.account_id = last_month.account_id
            and joined.last_completed_month_start_date = last_month.month_start_date
    left join account_mrr as earlier_month
        on
            joined.account_id = earlier_month.account_id
            and {{ dbt.dateadd('month', -3, 'joined.last_completed_month_start_date') }}
            = earlier_month.month_start_date
)

select * from final
