-- MRR of each subscription at each month's measurement instant (the month's last second, or the
-- as-of instant in the as-of month), from the version in effect then.
-- Counted statuses: active, past_due and unpaid, because the customer still has access and is
-- billed. An unpaid subscription is contracted revenue until it is canceled. trialing, incomplete,
-- incomplete_expired, paused and canceled count 0, and so does any version whose access has ended
-- (ended_at, cancel_at or the end of a period marked cancel_at_period_end) by the instant.
-- Discounts: forever ones always, repeating ones while they last, once ones never lower MRR.
-- percent_off takes that share of the items; amount_off is per invoice, so it is spread over the
-- billing interval like the prices. A discount never takes MRR below 0.
with

months as (
    select * from {{ ref('int_revenue_months') }}
),

versions as (
    select * from {{ ref('int_subscription_versions') }}
),

version_items as (
    select * from {{ ref('int_subscription_version_items') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_monthly') }}
),

version_amounts as (
    select
        event_id,
        sum(monthly_amount_minor) as gross_monthly_minor,
        max(months_factor) as months_factor
    from version_items
    group by event_id
),

versions_in_effect as (
    select
        months.month_start_date,
        months.measured_at_local,
        versions.event_id,
        versions.subscription_id,
        versions.customer_id,
        versions.account_id,
        versions.status,
        versions.currency,
        versions.is_cancellation_scheduled,
        versions.discount_percent_off,
        versions.discount_amount_off_minor,
        versions.discount_duration,
        versions.discount_duration_in_months,
        versions.discount_starts_local,
        versions.discount_ends_local,
        versions.status in ('active', 'past_due', 'unpaid')
        and (
            versions.access_ends_local is null
            or versions.access_ends_local > months.measured_at_local
        ) as is_counted
    from months
    inner join versions
        on
            months.measured_at_local >= versions.valid_from_local
            and (
                versions.valid_to_local is null
                or months.measured_at_local < versions.valid_to_local
            )
),

discount_windows as (
    select
        *,
        case
            when discount_duration = 'forever'
                then discount_starts_local is null or discount_starts_local <= measured_at_local
            when discount_duration = 'repeating'
                then
                    discount_starts_local <= measured_at_local
                    and measured_at_local < coalesce(
                        discount_ends_local,
                        {{ dbt.dateadd('month', 'discount_duration_in_months', 'discount_starts_local') }}
                    )
            else false
        end as is_discount_applied
    from versions_in_effect
),

amounts as (
    select
        discount_windows.*,
        coalesce(version_amounts.gross_monthly_minor, 0) as gross_monthly_minor,
        case
            when not discount_windows.is_discount_applied then 0
            when discount_windows.discount_percent_off is not null
                then coalesce(version_amounts.gross_monthly_minor, 0) * discount_windows.discount_percent_off / 100
            when discount_windows.discount_amount_off_minor is not null
                then discount_windows.discount_amount_off_minor * coalesce(version_amounts.months_factor, 0)
            else 0
        end as discount_monthly_minor
    from discount_windows
    left join version_amounts
        on discount_windows.event_id = version_amounts.event_id
),

net_amounts as (
    select
        *,
        case
            when not is_counted then 0
            when discount_monthly_minor >= gross_monthly_minor then 0
            else gross_monthly_minor - discount_monthly_minor
        end as net_monthly_minor
    from amounts
),

final as (
    select
        net_amounts.subscription_id,
        net_amounts.month_start_date,
        net_amounts.event_id,
        net_amounts.customer_id,
        net_amounts.account_id,
        net_amounts.status,
        net_amounts.is_counted,
        net_amounts.is_discount_applied,
        net_amounts.currency,
        net_amounts.gross_monthly_minor,
        net_amounts.discount_monthly_minor,
        net_amounts.net_monthly_minor,
        fx_rates.fx_rate,
        -- NULL only when revenue is at stake and the FX rate is missing. The not_null test on this
        -- column then fails the build instead of dropping the revenue.
        case
            when net_amounts.net_monthly_minor = 0 then cast(0 as decimal(18, 2))
            else {{ to_reporting_amount('net_amounts.net_monthly_minor', 'net_amounts.currency', 'fx_rates.fx_rate') }}
        end as mrr,
        net_amounts.is_counted and net_amounts.is_cancellation_scheduled as is_churn_scheduled
    from net_amounts
    left join fx_rates
        on
            net_amounts.month_start_date = fx_rates.month_start_date
            and net_amounts.currency = fx_rates.currency
)

select * from final
