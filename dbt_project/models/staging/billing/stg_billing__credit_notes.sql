-- Converted like invoices: the FX rate of the last day of the credit note's month in the
-- reporting timezone, or the latest earlier rate.
with

source as (
    select * from {{ source('raw', 'billing_credit_notes') }}
),

fx_rates as (
    select * from {{ ref('stg_billing__fx_rates') }}
),

credit_notes as (
    select
        credit_note_id,
        invoice_id,
        customer_id,
        amount as amount_minor,
        lower(currency) as currency,
        reason,
        status,
        credit_type,
        created_at,
        cast(
            {{ dbt.last_day(dbt.date_trunc('month', to_reporting_timezone('created_at')), 'month') }}
            as date
        ) as fx_rate_date
    from source
),

ranked_rates as (
    select
        credit_notes.credit_note_id,
        fx_rates.rate,
        row_number() over (
            partition by credit_notes.credit_note_id
            order by fx_rates.rate_date desc
        ) as rate_rank
    from credit_notes
    inner join fx_rates
        on
            credit_notes.currency = fx_rates.currency
            and credit_notes.fx_rate_date >= fx_rates.rate_date
),

converted as (
    select
        credit_notes.*,
        case
            when credit_notes.currency = {{ reporting_currency() }} then 1.0
            else ranked_rates.rate
        end as fx_rate
    from credit_notes
    left join ranked_rates
        on
            credit_notes.credit_note_id = ranked_rates.credit_note_id
            and ranked_rates.rate_rank = 1
),

final as (
    select
        *,
        {{ to_reporting_amount('amount_minor', 'currency', 'fx_rate') }} as amount_reporting
    from converted
)

select * from final
