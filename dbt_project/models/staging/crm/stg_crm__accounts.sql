with

source as (
    select * from {{ source('raw', 'crm_accounts') }}
),

renamed as (
    select
        account_id,
        name as account_name,
        industry,
        employee_count,
        country as country_code,
        owner_csm_id as csm_id,
        created_at,
        cast({{ to_reporting_timezone('created_at') }} as date) as created_date
    from source
)

select * from renamed
