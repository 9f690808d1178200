-- Lines take their invoice's currency and FX rate, so lines and invoice convert alike.
with

source as (
    select * from {{ source('raw', 'billing_invoice_lines') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

renamed as (
    select
        source.invoice_id,
        source.line_id,
        source.price_id,
        source.quantity,
        source.amount as amount_minor,
        coalesce(source.is_proration, false) as is_proration,
        source.period_start_at,
        source.period_end_at,
        source.description,
        invoices.currency,
        invoices.fx_rate,
        {{ to_reporting_amount('source.amount', 'invoices.currency', 'invoices.fx_rate') }} as amount_reporting
    from source
    left join invoices
        on source.invoice_id = invoices.invoice_id
)

select * from renamed
