-- Billing state of each account at the end of each day of its spine. The account pays when one of its
-- subscriptions is active or past_due. Seats are the item quantities of the paying subscriptions, and
-- renewal_date is the next renewal of its annual contracts. An invoice is overdue from the day after its
-- due date until the day it is paid, and void and draft invoices never are.
with

spine as (
    select * from {{ ref('int_cs__account_day_spine') }}
),

subscription_states as (
    select * from {{ ref('int_cs__subscription_states') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

customers as (
    select * from {{ ref('stg_billing__customers') }}
),

paying_states as (
    select
        account_id,
        subscription_id,
        seat_count,
        is_annual_term,
        current_period_end_date,
        valid_from_date,
        valid_to_date
    from subscription_states
    where is_paying and (valid_to_date is null or valid_to_date > valid_from_date)
),

daily_subscriptions as (
    select
        spine.account_id,
        spine.date_day,
        count(distinct paying_states.subscription_id) as paying_subscription_count,
        sum(paying_states.seat_count) as seat_count,
        min(
            case
                when paying_states.is_annual_term
                    then {{ cs_next_annual_renewal_date('paying_states.current_period_end_date', 'spine.date_day') }}
            end
        ) as renewal_date
    from spine
    inner join paying_states
        on
            spine.account_id = paying_states.account_id
            and spine.date_day >= paying_states.valid_from_date
            and (paying_states.valid_to_date is null or spine.date_day < paying_states.valid_to_date)
    group by spine.account_id, spine.date_day
),

overdue_spans as (
    select
        customers.account_id,
        cast({{ dbt.dateadd('day', 1, to_reporting_timezone('invoices.due_at')) }} as date) as overdue_from_date,
        cast({{ to_reporting_timezone('invoices.paid_at') }} as date) as paid_date
    from invoices
    inner join customers
        on invoices.customer_id = customers.customer_id
    where invoices.status in ('open', 'paid', 'uncollectible') and invoices.due_at is not null
),

overdue_changes as (
    select
        account_id,
        overdue_from_date as date_day,
        1 as overdue_change
    from overdue_spans
    where paid_date is null or paid_date > overdue_from_date
    union all
    select
        account_id,
        paid_date as date_day,
        -1 as overdue_change
    from overdue_spans
    where paid_date > overdue_from_date
),

daily_overdue_changes as (
    select
        account_id,
        date_day,
        sum(overdue_change) as overdue_change
    from overdue_changes
    group by account_id, date_day
),

joined as (
    select
        spine.account_id,
        spine.date_day,
        coalesce(daily_subscriptions.paying_subscription_count, 0) > 0 as is_paying,
        cast(coalesce(daily_subscriptions.seat_count, 0) as {{ dbt.type_bigint() }}) as seat_count,
        daily_subscriptions.renewal_date,
        cast(sum(coalesce(daily_overdue_changes.overdue_change, 0)) over (
            partition by spine.account_id order by spine.date_day
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as overdue_invoice_count
    from spine
    left join daily_subscriptions
        on spine.account_id = daily_subscriptions.account_id and spine.date_day = daily_subscriptions.date_day
    left join daily_overdue_changes
        on
            spine.account_id = daily_overdue_changes.account_id
            and spine.date_day = daily_overdue_changes.date_day
)

select * from joined
