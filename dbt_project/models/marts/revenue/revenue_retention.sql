-- Each window ends with the month of the row and opens at the end of the month before its first
-- month: one month for window 'month', twelve for 'trailing_12_months' (only once the spine has
-- a full twelve months before it). Retention counts only the accounts with MRR at the opening.
with

account_mrr as (
    select * from {{ ref('account_mrr_monthly') }}
),

months as (
    select * from {{ ref('int_revenue_months') }}
),

spine_start as (
    select min(month_start_date) as first_month_start_date
    from months
),

windows as (
    select
        month_start_date,
        'month' as window_name,
        month_start_date as window_first_month_start_date,
        cast({{ dbt.dateadd('month', -1, 'month_start_date') }} as date) as opening_month_start_date
    from months

    union all

    select
        months.month_start_date,
        'trailing_12_months' as window_name,
        cast({{ dbt.dateadd('month', -11, 'months.month_start_date') }} as date) as window_first_month_start_date,
        cast({{ dbt.dateadd('month', -12, 'months.month_start_date') }} as date) as opening_month_start_date
    from months
    cross join spine_start
    where {{ dbt.dateadd('month', -12, 'months.month_start_date') }} >= spine_start.first_month_start_date
),

opening_accounts as (
    select
        windows.month_start_date,
        windows.window_name,
        opening.account_id,
        opening.mrr as opening_mrr,
        coalesce(closing.mrr, 0) as closing_mrr
    from windows
    inner join account_mrr as opening
        on
            windows.opening_month_start_date = opening.month_start_date
            and opening.mrr > 0
    left join account_mrr as closing
        on
            opening.account_id = closing.account_id
            and windows.month_start_date = closing.month_start_date
),

retention as (
    select
        month_start_date,
        window_name,
        count(*) as starting_accounts,
        cast(sum(case when closing_mrr = 0 then 1 else 0 end) as {{ dbt.type_bigint() }}) as churned_accounts,
        sum(opening_mrr) as starting_mrr,
        sum(closing_mrr) as net_retained_mrr,
        sum(case when closing_mrr < opening_mrr then closing_mrr else opening_mrr end) as gross_retained_mrr
    from opening_accounts
    group by month_start_date, window_name
),

movements as (
    select
        windows.month_start_date,
        windows.window_name,
        sum(case when account_mrr.movement_type = 'new' then account_mrr.movement_amount else 0 end) as new_mrr,
        sum(
            case when account_mrr.movement_type = 'reactivation' then account_mrr.movement_amount else 0 end
        ) as reactivation_mrr,
        sum(
            case when account_mrr.movement_type = 'expansion' then account_mrr.movement_amount else 0 end
        ) as expansion_mrr,
        sum(
            case when account_mrr.movement_type = 'contraction' then -account_mrr.movement_amount else 0 end
        ) as contraction_mrr,
        sum(case when account_mrr.movement_type = 'churn' then -account_mrr.movement_amount else 0 end) as churned_mrr
    from windows
    left join account_mrr
        on
            windows.window_first_month_start_date <= account_mrr.month_start_date
            and windows.month_start_date >= account_mrr.month_start_date
    group by windows.month_start_date, windows.window_name
),

closing as (
    select
        windows.month_start_date,
        windows.window_name,
        sum(account_mrr.mrr) as ending_mrr
    from windows
    left join account_mrr
        on windows.month_start_date = account_mrr.month_start_date
    group by windows.month_start_date, windows.window_name
),

combined as (
    select
        windows.month_start_date,
        windows.window_name,
        windows.window_first_month_start_date,
        coalesce(retention.starting_accounts, 0) as starting_accounts,
        coalesce(retention.churned_accounts, 0) as churned_accounts,
        coalesce(retention.starting_mrr, 0) as starting_mrr,
        coalesce(movements.new_mrr, 0) as new_mrr,
        coalesce(movements.reactivation_mrr, 0) as reactivation_mrr,
        coalesce(movements.expansion_mrr, 0) as expansion_mrr,
        coalesce(movements.contraction_mrr, 0) as contraction_mrr,
        coalesce(movements.churned_mrr, 0) as churned_mrr,
        coalesce(closing.ending_mrr, 0) as ending_mrr,
        coalesce(retention.net_retained_mrr, 0) as net_retained_mrr,
        coalesce(retention.gross_retained_mrr, 0) as gross_retained_mrr
    from windows
    left join retention
        on
            windows.month_start_date = retention.month_start_date
            and windows.window_name = retention.window_name
    left join movements
        on
            windows.month_start_date = movements.month_start_date
            and windows.window_name = movements.window_name
    left join closing
        on
            windows.month_start_date = closing.month_start_date
            and windows.window_name = closing.window_name
),

final as (
    select
        month_start_date,
        window_name,
        window_first_month_start_date,
        cast(starting_mrr as decimal(18, 2)) as starting_mrr,
        cast(new_mrr as decimal(18, 2)) as new_mrr,
        cast(reactivation_mrr as decimal(18, 2)) as reactivation_mrr,
        cast(expansion_mrr as decimal(18, 2)) as expansion_mrr,
        cast(contraction_mrr as decimal(18, 2)) as contraction_mrr,
        cast(churned_mrr as decimal(18, 2)) as churned_mrr,
        cast(ending_mrr as decimal(18, 2)) as ending_mrr,
        cast(net_retained_mrr as decimal(18, 2)) as net_retained_mrr,
        cast(gross_retained_mrr as decimal(18, 2)) as gross_retained_mrr,
        starting_accounts,
        churned_accounts,
        case
            when starting_mrr > 0 then cast(round(net_retained_mrr / starting_mrr, 6) as decimal(18, 6))
        end as nrr,
        case
            when starting_mrr > 0 then cast(round(gross_retained_mrr / starting_mrr, 6) as decimal(18, 6))
        end as grr,
        case
            when starting_accounts > 0
                then cast(round(1.0 * churned_accounts / starting_accounts, 6) as decimal(18, 6))
        end as logo_churn_rate,
        case
            when contraction_mrr + churned_mrr > 0
                then cast(
                    round((new_mrr + reactivation_mrr + expansion_mrr) / (contraction_mrr + churned_mrr), 6)
                    as decimal(18, 6)
                )
        end as quick_ratio,
        {{ reporting_currency() }} as reporting_currency
    from combined
)

select * from final
