with

source as (
    select * from {{ source('raw', 'crm_tickets') }}
),

renamed as (
    select
        ticket_id,
        account_id,
        created_at,
        first_response_at,
        resolved_at,
        priority,
        status as ticket_status,
        category,
        csat as csat_score,
        cast({{ to_reporting_timezone('created_at') }} as date) as created_date,
        cast({{ to_reporting_timezone('resolved_at') }} as date) as resolved_date,
        {{ dbt.datediff('created_at', 'first_response_at', 'minute') }} / 60.0 as first_response_hours,
        {{ dbt.datediff('created_at', 'resolved_at', 'minute') }} / 60.0 as resolution_hours
    from source
)

select * from renamed
