-- The rule-based churn risk of each paying account on each day: the share of seven signals that hold.
-- It is the baseline the churn model must beat, and the fallback where the model has no score.
with

account_daily as (
    select * from {{ ref('int_cs__account_daily') }}
),

signals as (
    select
        account_id,
        date_day,
        last_active_date,
        ticket_count_30d,
        overdue_invoice_count,
        renewal_date,
        event_count_30d,
        event_count_previous_30d,
        last_active_date is null
        or {{ dbt.datediff('last_active_date', 'date_day', 'day') }} >= 14 as has_no_login_14d,
        ticket_count_30d > 5 as has_many_tickets_30d,
        overdue_invoice_count > 0 as has_overdue_invoice,
        champions_left_90d > 0 as has_champion_left_90d,
        competitor_mention_count_90d > 0 as has_competitor_mention_90d,
        coalesce({{ dbt.datediff('date_day', 'renewal_date', 'day') }} <= 90, false) as has_renewal_within_90d,
        event_count_previous_30d > 0 and event_count_30d < 0.8 * event_count_previous_30d as has_usage_decline_30d
    from account_daily
    where is_paying
),

counted as (
    select
        *,
        case when has_no_login_14d then 1 else 0 end
        + case when has_many_tickets_30d then 1 else 0 end
        + case when has_overdue_invoice then 1 else 0 end
        + case when has_champion_left_90d then 1 else 0 end
        + case when has_competitor_mention_90d then 1 else 0 end
        + case when has_renewal_within_90d then 1 else 0 end
        + case when has_usage_decline_30d then 1 else 0 end as signal_count
    from signals
),

final as (
    select
        account_id,
        date_day,
        has_no_login_14d,
        has_many_tickets_30d,
        has_overdue_invoice,
        has_champion_left_90d,
        has_competitor_mention_90d,
        has_renewal_within_90d,
        has_usage_decline_30d,
        signal_count,
        round(signal_count / 7.0, 6) as risk_share,
        {{ cs_risk_level('round(signal_count / 7.0, 6)') }} as risk_level,
        last_active_date,
        ticket_count_30d,
        overdue_invoice_count,
        renewal_date,
        event_count_30d,
        event_count_previous_30d
    from counted
)

select * from final
