-- Returns every revenue_retention row where starting MRR plus the movements does not equal the
-- ending MRR to the cent, and every month where a window's opening differs from the previous
-- month's ending MRR.
with

retention as (
    select * from {{ ref('revenue_retention') }}
),

unbalanced as (
    select
        month_start_date,
        window_name,
        'movements do not add up to ending_mrr' as failure
    from retention
    where
        starting_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr
        <> ending_mrr
),

monthly as (
    select
        month_start_date,
        starting_mrr,
        ending_mrr,
        lag(ending_mrr) over (order by month_start_date) as previous_ending_mrr
    from retention
    where window_name = 'month'
),

broken_chain as (
    select
        month_start_date,
        'month' as window_name,
        'starting_mrr differs from the previous month''s ending_mrr' as failure
    from monthly
    where previous_ending_mrr is not null and starting_mrr <> previous_ending_mrr
)

select * from unbalanced
union all
select * from broken_chain
