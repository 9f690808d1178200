-- Every CRM account gets every day from its first trace in the data (account creation, first product
-- event or first subscription change, whichever is earliest) to the as-of date, with no gaps, so that
-- trailing windows can count rows.
with

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

subscription_states as (
    select * from {{ ref('int_cs__subscription_states') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

first_traces as (
    select
        account_id,
        created_date as trace_date
    from accounts
    union all
    select
        account_id,
        min(event_date) as trace_date
    from events
    group by account_id
    union all
    select
        account_id,
        min(valid_from_date) as trace_date
    from subscription_states
    group by account_id
),

account_bounds as (
    select
        accounts.account_id,
        min(first_traces.trace_date) as first_date
    from accounts
    inner join first_traces
        on accounts.account_id = first_traces.account_id
    group by accounts.account_id
),

series_bounds as (
    select
        min(account_bounds.first_date) as first_date,
        max(as_of.as_of_date) as as_of_date
    from account_bounds
    cross join as_of
),

days as (
    {{ cs_date_series('series_bounds.first_date', 'series_bounds.as_of_date', 'series_bounds') }}
),

spine as (
    select
        account_bounds.account_id,
        days.date_day
    from account_bounds
    inner join days
        on account_bounds.first_date <= days.date_day
)

select * from spine
