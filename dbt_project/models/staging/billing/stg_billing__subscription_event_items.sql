with

source as (
    select * from {{ source('raw', 'billing_subscription_event_items') }}
),

renamed as (
    select
        event_id,
        item_id,
        price_id,
        quantity
    from source
)

select * from renamed
