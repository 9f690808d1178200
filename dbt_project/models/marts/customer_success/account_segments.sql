{%- set high_touch_min_arr = var('segment_high_touch_min_arr', 50000) -%}
{%- set mid_touch_min_arr = var('segment_mid_touch_min_arr', 10000) -%}
-- Coverage segment of each paying account on the as-of date by ARR: high touch from
-- var segment_high_touch_min_arr (default 50,000), mid touch from var segment_mid_touch_min_arr (default
-- 10,000), tech touch below. A CSM can carry 20 high-touch, 100 mid-touch or 1,000 tech-touch accounts,
-- so each account uses 1/20, 1/100 or 1/1000 of its CSM's capacity. The CSM's load is the sum.
with

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

csms as (
    select * from {{ ref('stg_crm__csms') }}
),

segmented as (
    select
        account_id,
        as_of_date,
        csm_id,
        arr,
        case
            when arr >= {{ high_touch_min_arr }} then 'high_touch'
            when arr >= {{ mid_touch_min_arr }} then 'mid_touch'
            else 'tech_touch'
        end as segment,
        case
            when arr >= {{ high_touch_min_arr }} then 20
            when arr >= {{ mid_touch_min_arr }} then 100
            else 1000
        end as accounts_per_csm
    from snapshot
    where is_paying
),

csm_load as (
    select
        csm_id,
        count(*) as csm_account_count,
        sum(1.0 / accounts_per_csm) as csm_capacity_used
    from segmented
    where csm_id is not null
    group by csm_id
),

final as (
    select
        segmented.account_id,
        segmented.as_of_date,
        segmented.arr,
        segmented.segment,
        segmented.accounts_per_csm,
        segmented.csm_id,
        csms.csm_name,
        csm_load.csm_account_count,
        csm_load.csm_capacity_used,
        coalesce(csm_load.csm_capacity_used > 1, false) as is_csm_over_capacity
    from segmented
    left join csms
        on segmented.csm_id = csms.csm_id
    left join csm_load
        on segmented.csm_id = csm_load.csm_id
)

select * from final
