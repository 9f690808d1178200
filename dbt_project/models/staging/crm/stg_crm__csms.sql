with

source as (
    select * from {{ source('raw', 'crm_csms') }}
),

renamed as (
    select
        csm_id,
        name as csm_name,
        team as team_name
    from source
)

select * from renamed
