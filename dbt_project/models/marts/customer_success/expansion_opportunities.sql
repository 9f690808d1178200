-- Expansion signals of each paying account on the as-of date. Seat utilization = users active in the
-- last 30 days / paid seats; above 0.8 it proposes 30 % more seats (rounded up), valued at the
-- account's current MRR per seat. Premium features unused in the last 90 days propose an upsell. An
-- employee count above 10 x the active users proposes expansion into more departments.
with

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

measured as (
    select
        account_id,
        as_of_date,
        csm_id,
        mrr,
        seat_count,
        active_users_30d,
        employee_count,
        premium_features_unused_90d,
        case when seat_count > 0 then 1.0 * active_users_30d / seat_count end as seat_utilization
    from snapshot
    where is_paying
),

flagged as (
    select
        *,
        coalesce(seat_utilization > 0.8, false) as is_seat_expansion,
        premium_features_unused_90d > 0 as is_premium_upsell,
        coalesce(employee_count > 10 * active_users_30d, false) as is_department_expansion
    from measured
),

final as (
    select
        account_id,
        as_of_date,
        csm_id,
        mrr,
        seat_count,
        active_users_30d,
        seat_utilization,
        is_seat_expansion,
        case when is_seat_expansion then cast(ceil(0.3 * seat_count) as {{ dbt.type_int() }}) end
            as proposed_additional_seats,
        case
            when is_seat_expansion then ceil(0.3 * seat_count) * mrr / seat_count
        end as seat_expansion_mrr,
        premium_features_unused_90d,
        is_premium_upsell,
        employee_count,
        is_department_expansion,
        is_seat_expansion or is_premium_upsell or is_department_expansion as has_opportunity
    from flagged
)

select * from final
