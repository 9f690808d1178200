with

source as (
    select * from {{ source('raw', 'catalog_features') }}
),

renamed as (
    select
        event_name,
        -- An event that is a feature but names none is its own feature.
        case when is_feature then coalesce(feature_name, event_name) end as feature_name,
        is_feature,
        coalesce(is_premium, false) as is_premium,
        coalesce(is_activation, false) as is_activation,
        onboarding_task
    from source
)

select * from renamed
