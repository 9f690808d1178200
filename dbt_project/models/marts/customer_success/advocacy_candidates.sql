-- Paying accounts that qualify as advocates on the as-of date. Their latest NPS score is 9 or 10, their
-- first paying day lies more than 6 months back, and their MRR has expanded in at least one month.
with

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

final as (
    select
        account_id,
        as_of_date,
        csm_id,
        latest_nps_score,
        latest_nps_date,
        first_paying_date,
        {{ dbt.datediff('first_paying_date', 'as_of_date', 'month') }} as paying_months,
        arr,
        health_score
    from snapshot
    where
        is_paying
        and latest_nps_score >= 9
        and {{ dbt.dateadd('month', 6, 'first_paying_date') }} < as_of_date
        and has_expansion_on_record
)

select * from final
