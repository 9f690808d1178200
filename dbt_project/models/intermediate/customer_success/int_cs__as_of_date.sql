-- The as-of date of every customer-success mart: the latest day with a product event, an invoice or a
-- subscription change. It comes from the data, never from the wall clock, so the same landing files
-- always give the same marts.
with

events as (
    select * from {{ ref('stg_product__events') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

subscription_events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

latest_dates as (
    select max(event_date) as latest_date from events
    union all
    select max(cast({{ to_reporting_timezone('created_at') }} as date)) from invoices
    union all
    select max(cast({{ to_reporting_timezone('event_created_at') }} as date)) from subscription_events
),

as_of as (
    select max(latest_date) as as_of_date
    from latest_dates
)

select as_of_date from as_of
