with

source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

renamed as (
    select
        contact_id,
        account_id,
        email,
        role as contact_role,
        coalesce(is_champion, false) as is_champion,
        created_at,
        left_at,
        cast({{ to_reporting_timezone('created_at') }} as date) as created_date,
        cast({{ to_reporting_timezone('left_at') }} as date) as left_date
    from source
)

select * from renamed
