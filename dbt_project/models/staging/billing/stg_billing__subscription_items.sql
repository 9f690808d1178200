with

source as (
    select * from {{ source('raw', 'billing_subscription_items') }}
),

renamed as (
    select
        subscription_id,
        item_id,
        price_id,
        quantity
    from source
)

select * from renamed
