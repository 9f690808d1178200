-- The month spine of the revenue marts: every month in the reporting timezone from the month of the
-- first subscription event to the as-of month. The as-of instant comes from int_as_of_date, the
-- latest record in any dated source, never the wall clock, so the same data always gives the same
-- spine. MRR is measured at the last second of each month, and at the as-of instant in the as-of month.
with

subscription_events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

event_bounds as (
    select min(event_created_at) as first_event_at
    from subscription_events
),

data_bounds as (
    select
        {{ to_reporting_timezone('event_bounds.first_event_at') }} as first_event_local,
        as_of.as_of_local
    from event_bounds
    cross join as_of
    where event_bounds.first_event_at is not null
),

spine_bounds as (
    select
        cast({{ dbt.date_trunc('month', 'first_event_local') }} as date) as first_month_start_date,
        cast({{ dbt.date_trunc('month', 'as_of_local') }} as date) as as_of_month_start_date,
        as_of_local
    from data_bounds
),

-- 1,200 months (100 years) is far more than any subscription history.
month_offsets as (
    {{ dbt.generate_series(1200) }}
),

months as (
    select
        cast(
            {{ dbt.dateadd('month', 'month_offsets.generated_number - 1', 'spine_bounds.first_month_start_date') }}
            as date
        ) as month_start_date,
        spine_bounds.as_of_month_start_date,
        spine_bounds.as_of_local
    from spine_bounds
    cross join month_offsets
    where
        month_offsets.generated_number - 1
        <= {{ dbt.datediff('spine_bounds.first_month_start_date', 'spine_bounds.as_of_month_start_date', 'month') }}
),

final as (
    select
        month_start_date,
        cast({{ dbt.last_day('month_start_date', 'month') }} as date) as month_end_date,
        month_start_date = as_of_month_start_date as is_as_of_month,
        case
            when month_start_date = as_of_month_start_date then as_of_local
            else {{ dbt.dateadd(
                'second', -1,
                "cast(" ~ dbt.dateadd('month', 1, 'month_start_date') ~ " as " ~ dbt.type_timestamp() ~ ")"
            ) }}
        end as measured_at_local
    from months
)

select * from final
