with

source as (
    select * from {{ source('raw', 'billing_customers') }}
),

renamed as (
    select
        customer_id,
        account_id,
        email,
        name as customer_name,
        lower(currency) as currency,
        coalesce(is_delinquent, false) as is_delinquent,
        created_at
    from source
)

select * from renamed
