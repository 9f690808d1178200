-- The as-of date alone, for models that read it under this older name.
-- TODO: drop this model once models/ml/churn_features refs int_as_of_date.
with

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

final as (
    select as_of_date
    from as_of
)

select * from final
