with

source as (
    select * from {{ source('raw', 'crm_cs_activities') }}
),

renamed as (
    select
        activity_id,
        account_id,
        csm_id,
        activity_type,
        occurred_at,
        cast({{ to_reporting_timezone('occurred_at') }} as date) as occurred_date,
        coalesce(competitor_mentioned, false) as is_competitor_mentioned,
        -- Notes are internal; every other activity type is a touch with the customer.
        activity_type != 'note' as is_customer_touch
    from source
)

select * from renamed
