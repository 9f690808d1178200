with

source as (
    select * from {{ source('raw', 'crm_nps_responses') }}
),

renamed as (
    select
        response_id,
        account_id,
        contact_id,
        score as nps_score,
        comment as response_comment,
        answered_at,
        cast({{ to_reporting_timezone('answered_at') }} as date) as answered_date,
        case
            when score >= 9 then 'promoter'
            when score >= 7 then 'passive'
            else 'detractor'
        end as nps_category
    from source
)

select * from renamed
