-- Daily rates into the reporting currency only: rates quoted in other currencies cannot convert
-- an amount into it.
with

source as (
    select * from {{ source('raw', 'billing_fx_rates') }}
),

renamed as (
    select
        rate_date,
        lower(currency) as currency,
        lower(quote_currency) as quote_currency,
        rate
    from source
    where lower(quote_currency) = {{ reporting_currency() }}
)

select * from renamed
