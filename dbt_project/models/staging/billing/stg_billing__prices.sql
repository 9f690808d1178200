with

source as (
    select * from {{ source('raw', 'billing_prices') }}
),

renamed as (
    select
        price_id,
        product_id,
        nickname as price_name,
        tier,
        unit_amount as unit_amount_minor,
        lower(currency) as currency,
        "interval" as billing_interval,  -- noqa: RF06
        coalesce(interval_count, 1) as interval_count,
        "interval" is not null as is_recurring,  -- noqa: RF06
        is_active,
        created_at
    from source
)

select * from renamed
