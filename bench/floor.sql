-- The benchmark floor: marts.account_mrr_monthly, marts.account_engagement_weekly and
-- marts.account_health_daily computed straight from a landing folder by one DuckDB script, written
-- for speed. It applies the same policies as the dbt marts (their YAML and docs/metrics_*.md) with the
-- default settings: reporting currency usd and reporting time zone UTC.
--
-- bench/floor.py runs it. It replaces each placeholder, a raw table name from cs_warehouse/contract.py
-- in double braces, with the SQL list of that landing entity's files. It keeps each "-- @events_jsonl" or
-- "-- @events_parquet" block only when the folder has events in that format, and joins the kept
-- blocks with "union all".
--
-- Ingestion rules applied here: events deduplicate on messageId with the copy received first winning,
-- event_at is corrected for clock skew, future-dated events are left out, and account_id falls back
-- to context.groupId. A record that misses a required value or has one that does not parse does not
-- count.
-- NOTE: unlike ingestion, this script does not drop repeated keys of CRM and billing records or check
-- optional columns against the contract's ranges. An event whose sentAt does not parse counts as
-- having none instead of being rejected, and copies of an event received at the same instant are not
-- ordered by file and line. Simulated landings have none of these cases.
--
-- Aggregation happens as early as possible: events become one row per account, user, day and event
-- name right after deduplication, and everything later works on account-day rows.

set TimeZone = 'UTC';

create schema if not exists floor;

-- Text value as ingestion keeps it: NULL when blank, otherwise unchanged.
create or replace temp macro nonblank(value) as case when trim(value) <> '' then value end;

-- ISO-8601 text (or a Parquet TIMESTAMPTZ) as a naive UTC timestamp, NULL when it does not parse.
create or replace temp macro utc_timestamp(value) as try_cast(try_cast(value as timestamptz) as timestamp);

-- Stripe's Unix seconds as a naive UTC timestamp, rounded to the microsecond as ingestion does.
create or replace temp macro epoch_timestamp(seconds) as make_timestamp(cast(round(seconds * 1000000) as bigint));

create or replace temp macro csv_boolean(value) as
    case
        when lower(trim(value)) in ('true', '1', 'yes') then true
        when lower(trim(value)) in ('false', '0', 'no') then false
    end;

create or replace temp macro csv_integer(value) as
    case when regexp_full_match(trim(value), '[+-]?[0-9]+(\.0+)?') then try_cast(trim(value) as bigint) end;

create or replace temp macro clamp01(x) as
    case
        when x < 0 then 0
        when x > 1 then 1
        else x
    end;


-- ---------------------------------------------------------------------------------------------
-- Product events: deduplicated, skew-corrected track calls, aggregated per account, user, day and
-- event name in the same statement, so no event row is stored.

create temp table user_day_events as
with

landing_calls as (
-- @events_jsonl
    -- The reader parses the times. With ignore_errors a value that does not parse becomes NULL, so
    -- a call with an invalid required time drops out below.
    select
        nonblank(messageId) as message_id,
        type as event_type,
        nonblank(event) as event_name,
        nonblank(userId) as user_id,
        coalesce(nonblank(groupId), nonblank(context.groupId)) as account_id,
        cast("timestamp" as timestamp) as client_at,
        cast(sentAt as timestamp) as sent_at,
        cast(receivedAt as timestamp) as received_at,
    from read_json(
        {{ events_jsonl }},
        format = 'newline_delimited',
        ignore_errors = true,
        columns = {
            messageId: 'VARCHAR',
            type: 'VARCHAR',
            event: 'VARCHAR',
            userId: 'VARCHAR',
            groupId: 'VARCHAR',
            context: 'STRUCT(groupId VARCHAR)',
            "timestamp": 'TIMESTAMPTZ',
            sentAt: 'TIMESTAMPTZ',
            receivedAt: 'TIMESTAMPTZ',
        }
    )
-- @events_parquet
    -- Parquet events carry context as JSON text and the times as TIMESTAMPTZ (or ISO-8601 text).
    select
        nonblank(messageId) as message_id,
        type as event_type,
        nonblank(event) as event_name,
        nonblank(userId) as user_id,
        coalesce(nonblank(groupId), nonblank(context ->> 'groupId')) as account_id,
        utc_timestamp("timestamp") as client_at,
        utc_timestamp(sentAt) as sent_at,
        utc_timestamp(receivedAt) as received_at,
    from read_parquet({{ events_parquet }})
-- @end
),

valid_calls as (
    select
        message_id,
        event_type,
        event_name,
        user_id,
        account_id,
        received_at,
        -- Segment's skew correction: the client's own delay between event and sending is taken
        -- off the server's receive time.
        case when sent_at is null then client_at else received_at - (sent_at - client_at) end as event_at,
    from landing_calls
    where
        message_id is not null
        and event_type in ('track', 'identify', 'group', 'page', 'screen', 'alias')
        and client_at is not null
        and received_at is not null
),

-- The copy of each message received first wins, whatever its call type.
first_copies as (
    select
        arg_min(
            {
                'event_type': event_type,
                'event_name': event_name,
                'user_id': user_id,
                'account_id': account_id,
                'event_at': event_at,
                'received_at': received_at,
            },
            received_at
        ) as call,
    from valid_calls
    group by message_id
),

track_events as (
    select
        call.account_id,
        call.user_id,
        call.event_name,
        call.event_at,
    from first_copies
    where
        call.event_type = 'track'
        and call.account_id is not null
        and call.user_id is not null
        and call.event_name is not null
        -- Future-dated: more than one day after the server received it.
        and call.event_at <= call.received_at + interval 1 day
),

-- A session is a user's run of events with gaps of at most 30 minutes, counted by minute boundaries
-- crossed (date_diff), and it counts on the day it starts.
session_marks as (
    select
        account_id,
        user_id,
        event_name,
        event_at,
        coalesce(
            date_diff('minute', lag(event_at) over (partition by account_id, user_id order by event_at), event_at) > 30,
            true
        ) as is_session_start,
    from track_events
)

select
    account_id,
    user_id,
    cast(event_at as date) as event_date,
    event_name,
    count(*) as event_count,
    count(*) filter (where is_session_start) as session_count,
    max(event_at) as latest_event_at,
from session_marks
group by account_id, user_id, cast(event_at as date), event_name;


-- ---------------------------------------------------------------------------------------------
-- CRM and catalog CSV exports, typed and filtered to the records ingestion loads.

create temp table accounts as
select
    account_id,
    cast(utc_timestamp(created_at) as date) as created_date,
from read_csv({{ crm_accounts }}, header = true, all_varchar = true)
where
    nonblank(account_id) is not null
    and nonblank(name) is not null
    and utc_timestamp(created_at) is not null;

create temp table tickets as
select
    account_id,
    utc_timestamp(created_at) as created_at,
    cast(utc_timestamp(resolved_at) as date) as resolved_date,
    csv_integer(csat) as csat_score,
from read_csv({{ crm_tickets }}, header = true, all_varchar = true)
where
    nonblank(ticket_id) is not null
    and nonblank(account_id) is not null
    and utc_timestamp(created_at) is not null
    and (nullif(trim(csat), '') is null or csv_integer(csat) between 1 and 5);

create temp table nps_responses as
select
    account_id,
    utc_timestamp(answered_at) as answered_at,
    csv_integer(score) as nps_score,
from read_csv({{ crm_nps_responses }}, header = true, all_varchar = true)
where
    nonblank(response_id) is not null
    and nonblank(account_id) is not null
    and csv_integer(score) between 0 and 10
    and utc_timestamp(answered_at) is not null;

create temp table cs_activities as
select
    account_id,
    utc_timestamp(occurred_at) as occurred_at,
    activity_type <> 'note' as is_customer_touch,
    coalesce(csv_boolean(competitor_mentioned), false) as is_competitor_mentioned,
from read_csv({{ crm_cs_activities }}, header = true, all_varchar = true)
where
    nonblank(activity_id) is not null
    and nonblank(account_id) is not null
    and activity_type in ('call', 'email', 'meeting', 'business_review', 'note')
    and utc_timestamp(occurred_at) is not null;

create temp table champions as
select
    account_id,
    cast(utc_timestamp(created_at) as date) as created_date,
    cast(utc_timestamp(left_at) as date) as left_date,
from read_csv({{ crm_contacts }}, header = true, all_varchar = true)
where
    nonblank(contact_id) is not null
    and nonblank(account_id) is not null
    and coalesce(csv_boolean(is_champion), false);

-- Features a customer can use: an event that is a feature but names none is its own feature.
create temp table features as
select
    event_name,
    coalesce(nonblank(feature_name), event_name) as feature_name,
from read_csv({{ catalog_features }}, header = true, all_varchar = true)
where
    nonblank(event_name) is not null
    and csv_boolean(is_feature);


-- ---------------------------------------------------------------------------------------------
-- Billing: Stripe-shaped JSON Lines. Amounts stay in minor units until the conversion to the
-- reporting currency.

create temp table customers as
select
    id as customer_id,
    metadata.account_id as account_id,
from read_json(
    {{ billing_customers }},
    format = 'newline_delimited',
    columns = {id: 'VARCHAR', metadata: 'STRUCT(account_id VARCHAR)', created: 'DOUBLE'}
)
where nonblank(id) is not null and nonblank(metadata.account_id) is not null and created is not null;

create temp table prices as
select
    id as price_id,
    unit_amount as unit_amount_minor,
    lower(currency) as currency,
    recurring."interval" as billing_interval,
    coalesce(recurring.interval_count, 1) as interval_count,
from read_json(
    {{ billing_prices }},
    format = 'newline_delimited',
    columns = {
        id: 'VARCHAR',
        unit_amount: 'BIGINT',
        currency: 'VARCHAR',
        recurring: 'STRUCT("interval" VARCHAR, interval_count BIGINT)',
    }
)
where nonblank(id) is not null and unit_amount >= 0 and nonblank(currency) is not null;

create temp table fx_rates as
select
    try_cast("date" as date) as rate_date,
    lower(currency) as currency,
    rate,
from read_json(
    {{ billing_fx_rates }},
    format = 'newline_delimited',
    columns = {"date": 'VARCHAR', currency: 'VARCHAR', quote: 'VARCHAR', rate: 'DOUBLE'}
)
where
    try_cast("date" as date) is not null
    and nonblank(currency) is not null
    and lower(quote) = 'usd'
    and rate >= 0;

create temp table latest_invoice as
select max(epoch_timestamp(created)) as latest_at,
from read_json(
    {{ billing_invoices }},
    format = 'newline_delimited',
    columns = {id: 'VARCHAR', customer: 'VARCHAR', status: 'VARCHAR', currency: 'VARCHAR', total: 'BIGINT', created: 'DOUBLE'}
)
where
    nonblank(id) is not null
    and nonblank(customer) is not null
    and status in ('draft', 'open', 'paid', 'void', 'uncollectible')
    and nonblank(currency) is not null
    and total is not null;

-- Each customer.subscription.* event contains the whole subscription after the change.
create temp table subscription_events as
select
    id as event_id,
    epoch_timestamp(created) as event_created_at,
    data.object.id as subscription_id,
    data.object.customer as customer_id,
    data.object.status as status,
    lower(data.object.currency) as currency,
    epoch_timestamp(data.object.current_period_end) as current_period_end_at,
    coalesce(data.object.cancel_at_period_end, false) as is_cancel_at_period_end,
    epoch_timestamp(data.object.cancel_at) as cancel_at,
    epoch_timestamp(data.object.ended_at) as ended_at,
    data.object.discount.coupon.percent_off as discount_percent_off,
    data.object.discount.coupon.amount_off as discount_amount_off_minor,
    data.object.discount.coupon.duration as discount_duration,
    data.object.discount.coupon.duration_in_months as discount_duration_in_months,
    epoch_timestamp(data.object.discount."start") as discount_start_at,
    epoch_timestamp(data.object.discount."end") as discount_end_at,
    data.object.items.data as items,
from read_json(
    {{ billing_subscription_events }},
    format = 'newline_delimited',
    columns = {
        id: 'VARCHAR',
        type: 'VARCHAR',
        created: 'DOUBLE',
        data: 'STRUCT(object STRUCT(
            id VARCHAR,
            customer VARCHAR,
            status VARCHAR,
            currency VARCHAR,
            created DOUBLE,
            current_period_end DOUBLE,
            cancel_at_period_end BOOLEAN,
            cancel_at DOUBLE,
            ended_at DOUBLE,
            discount STRUCT(
                coupon STRUCT(
                    percent_off DOUBLE,
                    amount_off BIGINT,
                    duration VARCHAR,
                    duration_in_months BIGINT
                ),
                "start" DOUBLE,
                "end" DOUBLE
            ),
            items STRUCT(data STRUCT(id VARCHAR, price STRUCT(id VARCHAR), quantity BIGINT)[])
        ))',
    }
)
where
    nonblank(id) is not null
    and nonblank(type) is not null
    and created is not null
    and nonblank(data.object.id) is not null
    and nonblank(data.object.customer) is not null
    and data.object.status in (
        'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'
    )
    and nonblank(data.object.currency) is not null
    and data.object.created is not null;

-- Per event: the seats and the monthly amount of its items. An item's monthly amount is unit amount
-- x quantity x numerator / denominator (month: 1 / interval count, year: 1 / 12, week: 52 / 12,
-- day: 365 / 12, each over the interval count). The division comes last, so weekly prices stay
-- exact. One-off prices are not recurring revenue.
create temp table event_terms as
with

items as (
    select
        subscription_events.event_id,
        item.quantity,
        prices.unit_amount_minor,
        prices.billing_interval,
        prices.interval_count,
        case prices.billing_interval
            when 'month' then 1
            when 'year' then 1
            when 'week' then 52
            when 'day' then 365
            else 0
        end as factor_numerator,
        case prices.billing_interval
            when 'month' then prices.interval_count
            else 12 * prices.interval_count
        end as factor_denominator,
    from subscription_events, unnest(subscription_events.items) as element(item)
    left join prices
        on item.price.id = prices.price_id
    where nonblank(item.id) is not null and nonblank(item.price.id) is not null and item.quantity >= 0
)

select
    event_id,
    sum(quantity) as seat_count,
    -- A contract renews once a year or less often: yearly prices, or monthly ones billed 12+ months at once.
    bool_or(billing_interval = 'year' or (billing_interval = 'month' and interval_count >= 12)) as is_annual_term,
    sum(cast(unit_amount_minor * quantity * factor_numerator as double) / factor_denominator) as gross_monthly_minor,
    max(cast(factor_numerator as double) / factor_denominator) as months_factor,
from items
group by event_id;


-- ---------------------------------------------------------------------------------------------
-- As-of instant: the latest record of any dated source, never the wall clock.

create temp table as_of as
with

latest_records as (
    select max(latest_event_at) as latest_at from user_day_events
    union all
    select latest_at from latest_invoice
    union all
    select max(event_created_at) from subscription_events
    union all
    select max(created_at) from tickets
    union all
    select max(answered_at) from nps_responses
    union all
    select max(occurred_at) from cs_activities
)

select
    max(latest_at) as as_of_at,
    cast(max(latest_at) as date) as as_of_date,
from latest_records;


-- ---------------------------------------------------------------------------------------------
-- account_mrr_monthly

create temp table revenue_months as
with

bounds as (
    select
        cast(date_trunc('month', min(subscription_events.event_created_at)) as date) as first_month_start_date,
        cast(date_trunc('month', any_value(as_of.as_of_at)) as date) as as_of_month_start_date,
        any_value(as_of.as_of_at) as as_of_at,
    from subscription_events, as_of
),

months as (
    select
        cast(unnest(generate_series(
            cast(first_month_start_date as timestamp), cast(as_of_month_start_date as timestamp), interval 1 month
        )) as date)
            as month_start_date,
        as_of_month_start_date,
        as_of_at,
    from bounds
    where first_month_start_date is not null
)

-- MRR is measured at the month's last second, and at the as-of instant in the as-of month.
select
    month_start_date,
    cast(last_day(month_start_date) as date) as month_end_date,
    month_start_date = as_of_month_start_date as is_as_of_month,
    case
        when month_start_date = as_of_month_start_date then as_of_at
        else cast(month_start_date + interval 1 month as timestamp) - interval 1 second
    end as measured_at,
from months;

-- Every event starts a version that lasts until the next event of the subscription. A canceled
-- version starts when access ended, not when the cancellation was requested.
create temp table subscription_versions as
with

versions as (
    select
        subscription_events.*,
        customers.account_id,
        case
            when subscription_events.status = 'canceled' and subscription_events.ended_at is not null
                then subscription_events.ended_at
            else subscription_events.event_created_at
        end as valid_from_at,
    from subscription_events
    left join customers
        on subscription_events.customer_id = customers.customer_id
)

select
    event_id,
    subscription_id,
    account_id,
    status,
    currency,
    valid_from_at,
    lead(valid_from_at) over (
        partition by subscription_id order by valid_from_at, event_created_at, event_id
    ) as valid_to_at,
    -- Access ends at the recorded end, else at a scheduled cancellation.
    coalesce(ended_at, cancel_at, case when is_cancel_at_period_end then current_period_end_at end) as access_ends_at,
    cancel_at is not null or is_cancel_at_period_end as is_cancellation_scheduled,
    discount_percent_off,
    discount_amount_off_minor,
    discount_duration,
    discount_duration_in_months,
    discount_start_at,
    discount_end_at,
from versions;

-- The rate of each month's last day, or the latest earlier one. The reporting currency converts at 1.
create temp table fx_rates_monthly as
with

currency_months as (
    select
        revenue_months.month_start_date,
        revenue_months.month_end_date,
        currencies.currency,
    from revenue_months
    cross join (select distinct currency from subscription_versions where currency is not null) as currencies
)

select
    currency_months.month_start_date,
    currency_months.currency,
    case when currency_months.currency = 'usd' then 1.0 else fx_rates.rate end as fx_rate,
from currency_months
asof left join fx_rates
    on currency_months.currency = fx_rates.currency
    and currency_months.month_end_date >= fx_rates.rate_date;

create or replace table floor.account_mrr_monthly as
with

versions_in_effect as (
    select
        revenue_months.month_start_date,
        revenue_months.measured_at,
        versions.*,
        -- active, past_due and unpaid subscriptions count until access ends.
        versions.status in ('active', 'past_due', 'unpaid')
        and (versions.access_ends_at is null or versions.access_ends_at > revenue_months.measured_at) as is_counted,
        -- Forever discounts always apply, repeating ones while they last, once ones never lower MRR.
        -- A repeating discount without a start date is applied, as the dbt model does.
        coalesce(
            case
                when versions.discount_duration = 'forever'
                    then versions.discount_start_at is null or versions.discount_start_at <= revenue_months.measured_at
                when versions.discount_duration = 'repeating'
                    then
                        versions.discount_start_at <= revenue_months.measured_at
                        and revenue_months.measured_at < coalesce(
                            versions.discount_end_at,
                            versions.discount_start_at + to_months(versions.discount_duration_in_months)
                        )
                else false
            end,
            true
        ) as is_discount_applied,
    from revenue_months
    inner join subscription_versions as versions
        on
            revenue_months.measured_at >= versions.valid_from_at
            and revenue_months.measured_at < coalesce(versions.valid_to_at, 'infinity'::timestamp)
),

amounts as (
    select
        versions_in_effect.*,
        coalesce(event_terms.gross_monthly_minor, 0) as gross_monthly_minor,
        -- percent_off takes that share of the items. amount_off is per invoice, so it is spread over
        -- the billing interval like the prices.
        case
            when not is_discount_applied then 0
            when discount_percent_off is not null
                then coalesce(event_terms.gross_monthly_minor, 0) * discount_percent_off / 100
            when discount_amount_off_minor is not null
                then discount_amount_off_minor * coalesce(event_terms.months_factor, 0)
            else 0
        end as discount_monthly_minor,
    from versions_in_effect
    left join event_terms
        on versions_in_effect.event_id = event_terms.event_id
),

subscription_mrr as (
    select
        amounts.account_id,
        amounts.month_start_date,
        amounts.is_counted,
        amounts.is_counted and amounts.is_cancellation_scheduled as is_churn_scheduled,
        -- A discount never takes MRR below 0. The amount is converted at 8 decimal places and
        -- rounded half away from zero to the cent. A missing FX rate leaves it NULL.
        case
            when not amounts.is_counted or amounts.discount_monthly_minor >= amounts.gross_monthly_minor
                then cast(0 as decimal(18, 2))
            else cast(round(
                cast(amounts.gross_monthly_minor - amounts.discount_monthly_minor as decimal(38, 8))
                * cast(fx_rates_monthly.fx_rate as decimal(38, 8))
                * case
                    when amounts.currency in (
                        'bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga',
                        'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf'
                    ) then 1.00
                    else 0.01
                end,
                2
            ) as decimal(18, 2))
        end as mrr,
    from amounts
    left join fx_rates_monthly
        on
            amounts.month_start_date = fx_rates_monthly.month_start_date
            and amounts.currency = fx_rates_monthly.currency
),

account_mrr as (
    select
        account_id,
        month_start_date,
        sum(mrr) as mrr,
        sum(case when is_churn_scheduled then mrr else 0 end) as scheduled_churn_mrr,
        count(*) filter (where is_counted) as counted_subscriptions,
    from subscription_mrr
    group by account_id, month_start_date
),

first_mrr_months as (
    select
        account_id,
        min(month_start_date) as first_mrr_month_start_date,
    from account_mrr
    where mrr > 0
    group by account_id
),

-- Every month from the account's first month with MRR to the as-of month, 0 where nothing counts.
filled as (
    select
        first_mrr_months.account_id,
        revenue_months.month_start_date,
        revenue_months.month_end_date,
        revenue_months.is_as_of_month,
        first_mrr_months.first_mrr_month_start_date,
        coalesce(account_mrr.mrr, 0) as mrr,
        coalesce(account_mrr.scheduled_churn_mrr, 0) as scheduled_churn_mrr,
        coalesce(account_mrr.counted_subscriptions, 0) as counted_subscriptions,
    from first_mrr_months
    inner join revenue_months
        on first_mrr_months.first_mrr_month_start_date <= revenue_months.month_start_date
    left join account_mrr
        on
            first_mrr_months.account_id = account_mrr.account_id
            and revenue_months.month_start_date = account_mrr.month_start_date
),

with_previous as (
    select
        *,
        lag(mrr) over (partition by account_id order by month_start_date) as lagged_mrr,
    from filled
)

select
    account_id,
    month_start_date,
    month_end_date,
    is_as_of_month,
    first_mrr_month_start_date,
    date_diff('month', first_mrr_month_start_date, month_start_date) as months_since_first_mrr,
    cast(mrr as decimal(18, 2)) as mrr,
    cast(coalesce(lagged_mrr, 0) as decimal(18, 2)) as previous_mrr,
    case
        when lagged_mrr is null then 'new'
        when lagged_mrr = 0 and mrr > 0 then 'reactivation'
        when lagged_mrr > 0 and mrr = 0 then 'churn'
        when lagged_mrr = 0 and mrr = 0 then 'inactive'
        when mrr > lagged_mrr then 'expansion'
        when mrr < lagged_mrr then 'contraction'
        else 'unchanged'
    end as movement_type,
    cast(mrr - coalesce(lagged_mrr, 0) as decimal(18, 2)) as movement_amount,
    scheduled_churn_mrr > 0 as has_scheduled_churn,
    cast(scheduled_churn_mrr as decimal(18, 2)) as scheduled_churn_mrr,
    counted_subscriptions,
    'usd' as reporting_currency,
from with_previous;


-- ---------------------------------------------------------------------------------------------
-- Account-day spine: every CRM account, every day from its first trace (creation, first product
-- event or first subscription change) to the as-of date, with every daily fact the engagement and
-- health marts read, joined once.

create temp table account_first_days as
with

first_traces as (
    select account_id, created_date as trace_date from accounts
    union all
    select account_id, min(event_date) from user_day_events group by account_id
    union all
    select customers.account_id, min(cast(subscription_events.event_created_at as date))
    from subscription_events
    inner join customers
        on subscription_events.customer_id = customers.customer_id
    group by customers.account_id
)

select
    accounts.account_id,
    min(first_traces.trace_date) as first_date,
from accounts
inner join first_traces
    on accounts.account_id = first_traces.account_id
group by accounts.account_id;

-- Subscription states for billing: a state lasts from the day of its event to the day of the next
-- event, so of several events on one day only the last covers any day. active and past_due pay.
create temp table paying_states as
with

states as (
    select
        customers.account_id,
        subscription_events.status,
        cast(subscription_events.event_created_at as date) as valid_from_date,
        cast(lead(subscription_events.event_created_at) over (
            partition by subscription_events.subscription_id
            order by subscription_events.event_created_at, subscription_events.event_id
        ) as date) as valid_to_date,
        coalesce(event_terms.seat_count, 0) as seat_count,
    from subscription_events
    inner join customers
        on subscription_events.customer_id = customers.customer_id
    left join event_terms
        on subscription_events.event_id = event_terms.event_id
)

select *
from states
where status in ('active', 'past_due') and (valid_to_date is null or valid_to_date > valid_from_date);

-- Sparse daily facts per account: counts on the day they happen, and +1/-1 changes whose running
-- sum is a count (distinct users and features in a trailing window, champions, paying subscriptions,
-- seats).
create temp table daily_facts as
with

-- A user or feature counts on day d when seen in the window ending on d. Each sighting opens a span
-- that ends at the next sighting or when the window runs out, whichever is first. Spans never
-- overlap, so +1 at the start and -1 at the end of every span add up to the distinct count.
user_days as (
    select
        account_id,
        event_date,
        sum(event_count) as event_count,
        sum(session_count) as session_count,
        lead(event_date) over (partition by account_id, user_id order by event_date) as next_date,
    from user_day_events
    group by account_id, user_id, event_date
),

feature_days as (
    select
        account_id,
        event_date,
        lead(event_date) over (partition by account_id, feature_name order by event_date) as next_date,
    from (
        select distinct
            user_day_events.account_id,
            features.feature_name,
            user_day_events.event_date,
        from user_day_events
        inner join features
            on user_day_events.event_name = features.event_name
    )
),

-- Each source is scanned once, and unnest turns a row into the facts it adds on several days.
changes as (
    select
        account_id,
        unnest([
            {
                'date_day': event_date, 'event_count': event_count, 'active_user_count': 1,
                'session_count': session_count, 'users_28d_change': 1, 'users_30d_change': 1,
            },
            {
                'date_day': least(coalesce(next_date, event_date + 28), event_date + 28), 'event_count': 0,
                'active_user_count': 0, 'session_count': 0, 'users_28d_change': -1, 'users_30d_change': 0,
            },
            {
                'date_day': least(coalesce(next_date, event_date + 30), event_date + 30), 'event_count': 0,
                'active_user_count': 0, 'session_count': 0, 'users_28d_change': 0, 'users_30d_change': -1,
            },
        ], recursive := true),
    from user_days
    union all by name
    select
        account_id,
        unnest([
            {'date_day': event_date, 'features_30d_change': 1},
            {'date_day': least(coalesce(next_date, event_date + 30), event_date + 30), 'features_30d_change': -1},
        ], recursive := true),
    from feature_days
    union all by name
    -- Tickets count on the day they were opened, CSAT ratings from the day the ticket was resolved.
    select
        account_id,
        unnest([
            {'date_day': cast(created_at as date), 'ticket_count': 1, 'csat_score_sum': 0, 'csat_rating_count': 0},
            {
                'date_day': resolved_date, 'ticket_count': 0, 'csat_score_sum': csat_score,
                'csat_rating_count': case when csat_score is not null then 1 else 0 end,
            },
        ], recursive := true),
    from tickets
    union all by name
    select account_id, cast(answered_at as date) as date_day, nps_score as nps_score_sum, 1 as nps_count,
    from nps_responses
    union all by name
    select account_id, cast(occurred_at as date) as date_day, 1 as touch_count,
    from cs_activities
    where is_customer_touch
    union all by name
    -- A champion counts from the day it was added (or the account's first day) until the day it left.
    select
        champions.account_id,
        unnest([
            {
                'date_day': greatest(coalesce(champions.created_date, first_days.first_date), first_days.first_date),
                'champion_change': 1,
            },
            {
                'date_day': case when champions.left_date is not null then greatest(champions.left_date, first_days.first_date) end,
                'champion_change': -1,
            },
        ], recursive := true),
    from champions
    inner join account_first_days as first_days
        on champions.account_id = first_days.account_id
    union all by name
    select
        account_id,
        unnest([
            {'date_day': valid_from_date, 'paying_change': 1, 'seat_change': seat_count},
            {'date_day': valid_to_date, 'paying_change': -1, 'seat_change': -seat_count},
        ], recursive := true),
    from paying_states
)

-- Rows dated NULL (no resolution, no departure, no next state) add nothing.
select
    account_id,
    date_day,
    sum(event_count) as event_count,
    sum(active_user_count) as active_user_count,
    sum(session_count) as session_count,
    sum(users_28d_change) as users_28d_change,
    sum(users_30d_change) as users_30d_change,
    sum(features_30d_change) as features_30d_change,
    sum(ticket_count) as ticket_count,
    sum(csat_score_sum) as csat_score_sum,
    sum(csat_rating_count) as csat_rating_count,
    sum(nps_score_sum) as nps_score_sum,
    sum(nps_count) as nps_count,
    sum(touch_count) as touch_count,
    sum(champion_change) as champion_change,
    sum(paying_change) as paying_change,
    sum(seat_change) as seat_change,
from changes
where date_day is not null
group by account_id, date_day;

create temp table account_days as
with

spine as (
    select
        account_first_days.account_id,
        cast(unnest(generate_series(
            cast(account_first_days.first_date as timestamp), cast(as_of.as_of_date as timestamp), interval 1 day
        )) as date) as date_day,
    from account_first_days, as_of
),

joined as (
    select
        spine.account_id,
        spine.date_day,
        coalesce(daily_facts.event_count, 0) as event_count,
        coalesce(daily_facts.active_user_count, 0) as active_user_count,
        coalesce(daily_facts.session_count, 0) as session_count,
        case when daily_facts.event_count > 0 then 1 else 0 end as is_active_day,
        coalesce(daily_facts.users_28d_change, 0) as users_28d_change,
        coalesce(daily_facts.users_30d_change, 0) as users_30d_change,
        coalesce(daily_facts.features_30d_change, 0) as features_30d_change,
        coalesce(daily_facts.ticket_count, 0) as ticket_count,
        coalesce(daily_facts.csat_score_sum, 0) as csat_score_sum,
        coalesce(daily_facts.csat_rating_count, 0) as csat_rating_count,
        case when daily_facts.nps_count > 0 then daily_facts.nps_score_sum / daily_facts.nps_count end as nps_score,
        coalesce(daily_facts.touch_count, 0) as touch_count,
        coalesce(daily_facts.champion_change, 0) as champion_change,
        coalesce(daily_facts.paying_change, 0) as paying_change,
        coalesce(daily_facts.seat_change, 0) as seat_change,
    from spine
    left join daily_facts
        on spine.account_id = daily_facts.account_id and spine.date_day = daily_facts.date_day
),

-- Running totals per account. A trailing window is the difference of two totals.
running as (
    select
        account_id,
        date_day,
        active_user_count,
        sum(is_active_day) over history as active_days,
        sum(active_user_count) over history as user_days,
        sum(event_count) over history as events,
        sum(session_count) over history as sessions,
        sum(users_28d_change) over history as active_users_28d,
        sum(users_30d_change) over history as active_users_30d,
        sum(features_30d_change) over history as features_used_30d,
        sum(ticket_count) over history as tickets,
        sum(csat_score_sum) over history as csat_score_total,
        sum(csat_rating_count) over history as csat_ratings,
        sum(touch_count) over history as touches,
        sum(champion_change) over history as champion_count,
        last_value(case when nps_score is not null then {'date_day': date_day, 'nps_score': nps_score} end ignore nulls)
            over history as latest_nps,
        sum(paying_change) over history > 0 as is_paying,
        sum(seat_change) over history as seat_count,
    from joined
    window history as (partition by account_id order by date_day rows between unbounded preceding and current row)
),

-- The running totals 7, 14, 21, 28, 30 and 90 days back, one struct per offset. The spine has no gaps,
-- so n rows back is n days back. Before the spine a total is 0, and the seat count 90 days back is NULL.
earlier as (
    select
        *,
        lag({'active_days': active_days}, 7, {'active_days': 0}) over by_day as back_7,
        lag({'active_days': active_days}, 14, {'active_days': 0}) over by_day as back_14,
        lag({'active_days': active_days}, 21, {'active_days': 0}) over by_day as back_21,
        lag(
            {'active_days': active_days, 'user_days': user_days}, 28, {'active_days': 0, 'user_days': 0}
        ) over by_day as back_28,
        lag(
            {'active_days': active_days, 'events': events, 'sessions': sessions, 'tickets': tickets},
            30,
            {'active_days': 0, 'events': 0, 'sessions': 0, 'tickets': 0}
        ) over by_day as back_30,
        lag(
            {'csat_score_total': csat_score_total, 'csat_ratings': csat_ratings, 'touches': touches, 'seat_count': seat_count},
            90
        ) over by_day as back_90,
    from running
    window by_day as (partition by account_id order by date_day)
)

select
    account_id,
    date_day,
    active_user_count,
    active_days - back_30.active_days as active_days_30d,
    user_days - back_28.user_days as user_days_28d,
    events - back_30.events as event_count_30d,
    sessions - back_30.sessions as session_count_30d,
    -- Weeks with an active day among the four 7-day blocks ending today.
    (active_days - back_7.active_days > 0)::int
    + (back_7.active_days - back_14.active_days > 0)::int
    + (back_14.active_days - back_21.active_days > 0)::int
    + (back_21.active_days - back_28.active_days > 0)::int as active_weeks_4w,
    active_users_28d,
    active_users_30d,
    features_used_30d,
    tickets - back_30.tickets as ticket_count_30d,
    csat_score_total - coalesce(back_90.csat_score_total, 0) as csat_score_sum_90d,
    csat_ratings - coalesce(back_90.csat_ratings, 0) as csat_rating_count_90d,
    touches - coalesce(back_90.touches, 0) as touch_count_90d,
    champion_count,
    latest_nps.date_day as latest_nps_date,
    latest_nps.nps_score as latest_nps_score,
    is_paying,
    seat_count,
    back_90.seat_count as seat_count_90d_earlier,
from earlier;


-- ---------------------------------------------------------------------------------------------
-- account_engagement_weekly: weeks start on Monday, from the account's first active week to the
-- as-of week. DAU is the mean over the week's days on the spine. MAU is the 28-day distinct user
-- count on the week's last day on the spine.

create or replace table floor.account_engagement_weekly as
with

weekly_users as (
    select
        account_id,
        cast(date_trunc('week', event_date) as date) as week_start_date,
        count(distinct user_id) as weekly_active_users,
    from user_day_events
    group by account_id, cast(date_trunc('week', event_date) as date)
),

weekly as (
    select
        account_id,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        count(*) as days_in_week,
        sum(active_user_count) / count(*) as daily_active_users,
        arg_max(active_users_28d, date_day) as monthly_active_users,
    from account_days
    group by account_id, cast(date_trunc('week', date_day) as date)
),

with_activity as (
    select
        weekly.*,
        coalesce(weekly_users.weekly_active_users, 0) as weekly_active_users,
        min(case when weekly_users.weekly_active_users > 0 then weekly.week_start_date end) over (
            partition by weekly.account_id
        ) as first_active_week_start_date,
        lag(coalesce(weekly_users.weekly_active_users, 0)) over (
            partition by weekly.account_id order by weekly.week_start_date
        ) as previous_week_active_users,
    from weekly
    left join weekly_users
        on weekly.account_id = weekly_users.account_id and weekly.week_start_date = weekly_users.week_start_date
)

select
    account_id,
    week_start_date,
    days_in_week,
    daily_active_users,
    weekly_active_users,
    cast(monthly_active_users as bigint) as monthly_active_users,
    case when monthly_active_users > 0 then daily_active_users / monthly_active_users end as stickiness,
    case
        when week_start_date = first_active_week_start_date then 'new'
        when weekly_active_users > 0 and previous_week_active_users > 0 then 'returning'
        when weekly_active_users > 0 then 'resurrecting'
        else 'dormant'
    end as lifecycle_stage,
from with_activity
where week_start_date >= first_active_week_start_date;


-- ---------------------------------------------------------------------------------------------
-- account_health_daily: per paying account-day, five 0-100 components, each the mean of its present
-- inputs scaled to 0-1. The score is their weighted mean (usage 0.35, engagement 0.25, satisfaction
-- 0.20, growth 0.15, relationship 0.05) over the components with data, the weights rescaled to sum to 1.

create or replace table floor.account_health_daily as
with

catalog_size as (
    select count(distinct feature_name) as features_available from features
),

-- MRR of the last completed month and of the month three before it.
monthly_growth as (
    select
        account_id,
        month_start_date,
        mrr as mrr_last_month,
        lag(mrr, 3) over (partition by account_id order by month_start_date) as mrr_three_months_earlier,
    from floor.account_mrr_monthly
),

inputs as (
    select
        account_days.account_id,
        account_days.date_day,
        account_days.is_paying,
        -- Usage. Before the first product event of any account there is no usage data.
        case when has_product_data then active_days_30d / 30.0 end as active_days_ratio,
        case
            when has_product_data and features_available > 0 then features_used_30d / features_available
        end as features_used_ratio,
        case
            when has_product_data and session_count_30d > 0 then clamp01(event_count_30d / (10.0 * session_count_30d))
            when has_product_data then 0.0
        end as actions_per_session_ratio,
        case when has_product_data then active_weeks_4w / 4.0 end as active_weeks_ratio,
        -- Engagement: average daily users over 28 days against half the users of those 28 days.
        case
            when has_product_data and active_users_28d > 0
                then clamp01(user_days_28d / 28.0 / (0.5 * active_users_28d))
            when has_product_data then 0.0
        end as stickiness_ratio,
        case
            when has_product_data and seat_count > 0 then clamp01(active_users_30d / seat_count)
        end as seat_activity_ratio,
        -- Satisfaction.
        case
            when csat_rating_count_90d > 0 then (csat_score_sum_90d / csat_rating_count_90d - 1) / 4.0
        end as csat_ratio,
        case when date_diff('day', latest_nps_date, account_days.date_day) < 365 then latest_nps_score / 10.0 end
            as nps_ratio,
        1 - clamp01(ticket_count_30d / 10.0) as ticket_load_ratio,
        -- Growth: 0.5 when flat, 1 at +20 % or more, 0 at -20 % or less.
        case
            when monthly_growth.mrr_three_months_earlier > 0
                then clamp01(
                    0.5 + 2.5 * (coalesce(monthly_growth.mrr_last_month, 0) - monthly_growth.mrr_three_months_earlier)
                    / monthly_growth.mrr_three_months_earlier
                )
        end as mrr_change_ratio,
        case
            when seat_count_90d_earlier > 0
                then clamp01(0.5 + 2.5 * (seat_count - seat_count_90d_earlier) / seat_count_90d_earlier)
        end as seat_change_ratio,
        -- Relationship.
        clamp01(touch_count_90d / 3.0) as touch_ratio,
        case when champion_count > 0 then 1.0 else 0.0 end as champion_ratio,
    from (
        select
            *,
            coalesce(date_day >= (select min(event_date) from user_day_events), false) as has_product_data,
        from account_days
    ) as account_days
    cross join catalog_size
    left join monthly_growth
        on
            account_days.account_id = monthly_growth.account_id
            and cast(date_trunc('month', account_days.date_day) - interval 1 month as date)
            = monthly_growth.month_start_date
),

components as (
    select
        account_id,
        date_day,
        is_paying,
        100.0 * (
            coalesce(active_days_ratio, 0) + coalesce(features_used_ratio, 0)
            + coalesce(actions_per_session_ratio, 0) + coalesce(active_weeks_ratio, 0)
        ) / nullif(
            (active_days_ratio is not null)::int + (features_used_ratio is not null)::int
            + (actions_per_session_ratio is not null)::int + (active_weeks_ratio is not null)::int,
            0
        ) as usage_score,
        100.0 * (coalesce(stickiness_ratio, 0) + coalesce(seat_activity_ratio, 0))
        / nullif((stickiness_ratio is not null)::int + (seat_activity_ratio is not null)::int, 0) as engagement_score,
        -- Ticket load alone does not measure satisfaction: it needs a CSAT rating or an NPS response.
        case
            when csat_ratio is not null or nps_ratio is not null
                then 100.0 * (coalesce(csat_ratio, 0) + coalesce(nps_ratio, 0) + ticket_load_ratio)
                / ((csat_ratio is not null)::int + (nps_ratio is not null)::int + 1)
        end as satisfaction_score,
        100.0 * (coalesce(mrr_change_ratio, 0) + coalesce(seat_change_ratio, 0))
        / nullif((mrr_change_ratio is not null)::int + (seat_change_ratio is not null)::int, 0) as growth_score,
        100.0 * (touch_ratio + champion_ratio) / 2 as relationship_score,
    from inputs
),

-- data_coverage is the sum of the present components' weights, exact as a decimal.
coverage as (
    select
        *,
        case when usage_score is null then 0 else 0.35 end
        + case when engagement_score is null then 0 else 0.25 end
        + case when satisfaction_score is null then 0 else 0.20 end
        + case when growth_score is null then 0 else 0.15 end
        + case when relationship_score is null then 0 else 0.05 end as data_coverage,
    from components
),

-- Scores are rounded to 2 decimals and weights to 6, and stored as FLOAT like the dbt mart.
scored as (
    select
        account_id,
        date_day,
        is_paying,
        cast(data_coverage as float) as data_coverage,
        cast(round(usage_score, 2) as float) as usage_score,
        cast(round(case when usage_score is not null then 0.35 / data_coverage end, 6) as float) as usage_weight,
        cast(round(engagement_score, 2) as float) as engagement_score,
        cast(round(case when engagement_score is not null then 0.25 / data_coverage end, 6) as float)
            as engagement_weight,
        cast(round(satisfaction_score, 2) as float) as satisfaction_score,
        cast(round(case when satisfaction_score is not null then 0.20 / data_coverage end, 6) as float)
            as satisfaction_weight,
        cast(round(growth_score, 2) as float) as growth_score,
        cast(round(case when growth_score is not null then 0.15 / data_coverage end, 6) as float) as growth_weight,
        cast(round(relationship_score, 2) as float) as relationship_score,
        cast(round(case when relationship_score is not null then 0.05 / data_coverage end, 6) as float)
            as relationship_weight,
        cast(round(
            (
                coalesce(0.35 * usage_score, 0)
                + coalesce(0.25 * engagement_score, 0)
                + coalesce(0.20 * satisfaction_score, 0)
                + coalesce(0.15 * growth_score, 0)
                + coalesce(0.05 * relationship_score, 0)
            ) / nullif(data_coverage, 0),
            2
        ) as float) as health_score,
    from coverage
),

-- The trend compares with the score 30 days earlier; the spine has no gaps, so that is 30 rows back.
with_trend as (
    select
        *,
        round(health_score - lag(health_score, 30) over (partition by account_id order by date_day), 2)
            as health_trend_30d,
    from scored
)

select
    account_id,
    date_day,
    health_score,
    case
        when health_score >= 70 then 'healthy'
        when health_score >= 40 then 'neutral'
        else 'at_risk'
    end as health_status,
    health_trend_30d,
    round(data_coverage, 6) as data_coverage,
    usage_score,
    usage_weight,
    engagement_score,
    engagement_weight,
    satisfaction_score,
    satisfaction_weight,
    growth_score,
    growth_weight,
    relationship_score,
    relationship_weight,
    coalesce(usage_score < 40, false) as is_usage_risk,
    coalesce(satisfaction_score < 50, false) as is_satisfaction_risk,
    coalesce(growth_score < 30, false) as is_growth_risk,
from with_trend
where is_paying;
