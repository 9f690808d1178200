-- Amounts are converted at the FX rate of the last day of the invoice's month (in the reporting
-- timezone), or the latest earlier rate when that day has none. A missing rate leaves the
-- reporting amounts NULL and fails the not_null tests on them.
with

source as (
    select * from {{ source('raw', 'billing_invoices') }}
),

fx_rates as (
    select * from {{ ref('stg_billing__fx_rates') }}
),

invoices as (
    select
        invoice_id,
        customer_id,
        subscription_id,
        status,
        billing_reason,
        lower(currency) as currency,
        subtotal as subtotal_minor,
        total_discount as total_discount_minor,
        total as total_minor,
        amount_due as amount_due_minor,
        amount_paid as amount_paid_minor,
        amount_remaining as amount_remaining_minor,
        created_at,
        due_at,
        paid_at,
        period_start_at,
        period_end_at,
        cast(
            {{ dbt.last_day(dbt.date_trunc('month', to_reporting_timezone('created_at')), 'month') }}
            as date
        ) as fx_rate_date
    from source
),

ranked_rates as (
    select
        invoices.invoice_id,
        fx_rates.rate,
        row_number() over (
            partition by invoices.invoice_id
            order by fx_rates.rate_date desc
        ) as rate_rank
    from invoices
    inner join fx_rates
        on
            invoices.currency = fx_rates.currency
            and invoices.fx_rate_date >= fx_rates.rate_date
),

converted as (
    select
        invoices.*,
        case
            when invoices.currency = {{ reporting_currency() }} then 1.0
            else ranked_rates.rate
        end as fx_rate
    from invoices
    left join ranked_rates
        on
            invoices.invoice_id = ranked_rates.invoice_id
            and ranked_rates.rate_rank = 1
),

final as (
    select
        *,
        {{ to_reporting_amount('subtotal_minor', 'currency', 'fx_rate') }} as subtotal_reporting,
        {{ to_reporting_amount('total_minor', 'currency', 'fx_rate') }} as total_reporting,
        {{ to_reporting_amount('amount_paid_minor', 'currency', 'fx_rate') }} as amount_paid_reporting,
        {{ to_reporting_amount('amount_remaining_minor', 'currency', 'fx_rate') }} as amount_remaining_reporting
    from converted
)

select * from final
