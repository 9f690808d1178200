-- The data's as-of instant: the latest record in any dated source (product events, invoices,
-- subscription changes, tickets, NPS responses and CS activities). It comes from the data, never from
-- the wall clock, so the same landing files always give the same marts. Future-dated product events
-- are already left out by stg_product__events, and so of the daily event counts read here.
with

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

subscription_events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
),

nps_responses as (
    select * from {{ ref('stg_crm__nps_responses') }}
),

cs_activities as (
    select * from {{ ref('stg_crm__cs_activities') }}
),

latest_records as (
    select max(last_event_at) as latest_at from events
    union all
    select max(created_at) as latest_at from invoices
    union all
    select max(event_created_at) as latest_at from subscription_events
    union all
    select max(created_at) as latest_at from tickets
    union all
    select max(answered_at) as latest_at from nps_responses
    union all
    select max(occurred_at) as latest_at from cs_activities
),

as_of as (
    select max(latest_at) as as_of_at
    from latest_records
),

final as (
    select
        as_of_at,
        {{ to_reporting_timezone('as_of_at') }} as as_of_local,
        cast({{ to_reporting_timezone('as_of_at') }} as date) as as_of_date
    from as_of
)

select * from final
