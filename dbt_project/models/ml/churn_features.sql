-- The churn model's feature mart: one row per account with MRR per observation date. Observation dates
-- are month ends up to the as-of date, plus the as-of date itself when it falls inside a month, so the
-- current state gets scored. Every feature uses only data dated on or before the observation date
-- (in the reporting timezone), so deleting later rows leaves a date's features unchanged.
-- The label is 1 when the account's MRR is 0 at any month end in the horizon after the date. The
-- horizon is var('churn_horizon_days') rounded to whole months (90 days: the next 3 month ends), and
-- the label is NULL until the as-of date reaches the horizon's last month end.
{%- set horizon_months = [((var('churn_horizon_days', 90) | int) / 30) | round | int, 1] | max %}
{#- First day of the horizon's last month, for a row's observation_date; its last day ends the horizon. -#}
{%- set horizon_last_month_start = dbt.dateadd('month', horizon_months, dbt.date_trunc('month', 'observation_date')) %}

{#- One per-feature column per catalog feature. The catalog is read from the built staging relation,
    found through the graph rather than ref() because a unit test replaces ref() with a CTE. Unit
    tests get an empty graph, so they build no per-feature columns. -#}
{%- set catalog_features = [] %}
{%- set catalog_nodes = graph.get('nodes', {}).values()
    | selectattr('name', 'equalto', 'stg_product__features') | list %}
{%- if execute and catalog_nodes %}
    {%- set catalog_relation = adapter.get_relation(
        database=catalog_nodes[0].database, schema=catalog_nodes[0].schema, identifier=catalog_nodes[0].alias
    ) %}
    {%- if catalog_relation is not none %}
        {%- set catalog_query %}
            select distinct feature_name from {{ catalog_relation }}
            where is_feature and feature_name is not null
            order by feature_name
        {%- endset %}
        {%- for name in run_query(catalog_query).columns[0].values() %}
            {#- Column suffix: the feature name in lowercase with every run of other characters as one underscore. -#}
            {%- do catalog_features.append({
                'name': name,
                'column': 'feature_events_30d__' ~ (modules.re.sub('[^a-z0-9]+', '_', name | lower) | trim('_')),
            }) %}
        {%- endfor %}
    {%- endif %}
{%- endif %}

with

account_mrr as (
    select * from {{ ref('account_mrr_monthly') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

usage_daily as (
    select * from {{ ref('int_cs__account_usage_daily') }}
),

crm_daily as (
    select * from {{ ref('int_cs__account_crm_daily') }}
),

health_daily as (
    select * from {{ ref('account_health_daily') }}
),

risk_signals as (
    select * from {{ ref('churn_risk_signals') }}
),

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

catalog as (
    select * from {{ ref('stg_product__features') }}
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

subscription_events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

subscription_event_items as (
    select * from {{ ref('stg_billing__subscription_event_items') }}
),

prices as (
    select * from {{ ref('stg_billing__prices') }}
),

customers as (
    select * from {{ ref('stg_billing__customers') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

month_end_observations as (
    select
        account_mrr.account_id,
        account_mrr.month_end_date as observation_date,
        account_mrr.mrr
    from account_mrr
    cross join as_of
    where account_mrr.mrr > 0 and account_mrr.month_end_date <= as_of.as_of_date
),

-- The as-of month's MRR is measured at the as-of instant, so it is the account's MRR on the as-of date.
as_of_observations as (
    select
        account_mrr.account_id,
        as_of.as_of_date as observation_date,
        account_mrr.mrr
    from account_mrr
    cross join as_of
    where
        account_mrr.mrr > 0
        and account_mrr.is_as_of_month
        and account_mrr.month_end_date > as_of.as_of_date
),

observations as (
    select
        account_id,
        observation_date,
        mrr,
        cast(
            {{ dbt.last_day(horizon_last_month_start, 'month') }}
            as date
        ) as horizon_end_date
    from month_end_observations
    union all
    select
        account_id,
        observation_date,
        mrr,
        cast(
            {{ dbt.last_day(horizon_last_month_start, 'month') }}
            as date
        ) as horizon_end_date
    from as_of_observations
),

-- Churn in the horizon: a month end after the date and up to the horizon end with MRR 0. The revenue
-- mart fills every month from the first MRR to the as-of month, so a labelled row always finds its
-- month ends. The final select counts a row that finds none as churned.
horizon_churn as (
    select
        observations.account_id,
        observations.observation_date,
        max(case when account_mrr.mrr = 0 then 1 else 0 end) as has_churned
    from observations
    inner join account_mrr
        on
            observations.account_id = account_mrr.account_id
            and observations.observation_date < account_mrr.month_end_date
            and observations.horizon_end_date >= account_mrr.month_end_date
    group by observations.account_id, observations.observation_date
),

mrr_history as (
    select
        observations.account_id,
        observations.observation_date,
        min(account_mrr.month_start_date) as first_month_start_date,
        max(
            case
                when
                    account_mrr.month_start_date
                    = cast(
                        {{ dbt.dateadd('month', -3, dbt.date_trunc('month', 'observations.observation_date')) }}
                        as date
                    )
                    then account_mrr.mrr
            end
        ) as mrr_3_months_before
    from observations
    inner join account_mrr
        on
            observations.account_id = account_mrr.account_id
            and observations.observation_date >= account_mrr.month_start_date
            and account_mrr.mrr > 0
    group by observations.account_id, observations.observation_date
),

-- Billing state: each subscription's latest change event on or before the date.
latest_subscription_events as (
    select
        observations.account_id,
        observations.observation_date,
        subscription_events.event_id,
        subscription_events.status,
        subscription_events.is_cancel_at_period_end or subscription_events.cancel_at is not null
            as is_cancel_scheduled,
        cast({{ to_reporting_timezone('subscription_events.current_period_end_at') }} as date) as period_end_date,
        row_number() over (
            partition by observations.account_id, observations.observation_date, subscription_events.subscription_id
            order by subscription_events.event_created_at desc, subscription_events.event_id desc
        ) as event_rank
    from observations
    inner join customers
        on observations.account_id = customers.account_id
    inner join subscription_events
        on
            customers.customer_id = subscription_events.customer_id
            and cast({{ to_reporting_timezone('subscription_events.event_created_at') }} as date)
            <= observations.observation_date
),

subscription_items_as_of as (
    select
        latest_subscription_events.account_id,
        latest_subscription_events.observation_date,
        latest_subscription_events.status,
        latest_subscription_events.is_cancel_scheduled,
        latest_subscription_events.period_end_date,
        subscription_event_items.quantity,
        prices.tier,
        prices.billing_interval,
        prices.unit_amount_minor * subscription_event_items.quantity as item_amount_minor
    from latest_subscription_events
    left join subscription_event_items
        on latest_subscription_events.event_id = subscription_event_items.event_id
    left join prices
        on subscription_event_items.price_id = prices.price_id
    where
        latest_subscription_events.event_rank = 1
        and latest_subscription_events.status not in ('canceled', 'incomplete_expired')
),

-- Plan tier and interval come from the account's largest item (by amount per billing interval).
largest_items as (
    select
        account_id,
        observation_date,
        tier,
        billing_interval,
        row_number() over (
            partition by account_id, observation_date
            order by item_amount_minor desc nulls last, tier asc, billing_interval asc
        ) as item_rank
    from subscription_items_as_of
),

-- The status shown is the most alarming one across the account's subscriptions.
billing_state as (
    select
        subscription_items_as_of.account_id,
        subscription_items_as_of.observation_date,
        cast(sum(subscription_items_as_of.quantity) as {{ dbt.type_bigint() }}) as seats,
        max(case when subscription_items_as_of.is_cancel_scheduled then 1 else 0 end) as is_cancel_scheduled,
        min(
            case
                when subscription_items_as_of.period_end_date >= subscription_items_as_of.observation_date
                    then subscription_items_as_of.period_end_date
            end
        ) as next_period_end_date,
        min(
            case subscription_items_as_of.status
                when 'unpaid' then '1_unpaid'
                when 'past_due' then '2_past_due'
                when 'paused' then '3_paused'
                when 'active' then '4_active'
                when 'trialing' then '5_trialing'
                else '6_' || subscription_items_as_of.status
            end
        ) as ranked_status,
        max(largest_items.tier) as plan_tier,
        max(largest_items.billing_interval) as billing_interval
    from subscription_items_as_of
    left join largest_items
        on
            subscription_items_as_of.account_id = largest_items.account_id
            and subscription_items_as_of.observation_date = largest_items.observation_date
            and largest_items.item_rank = 1
    group by subscription_items_as_of.account_id, subscription_items_as_of.observation_date
),

invoice_state as (
    select
        observations.account_id,
        observations.observation_date,
        count(*) as invoices_overdue,
        max({{ dbt.datediff(
            'cast(' ~ to_reporting_timezone('invoices.due_at') ~ ' as date)', 'observations.observation_date', 'day'
        ) }}) as days_past_due_max
    from observations
    inner join customers
        on observations.account_id = customers.account_id
    inner join invoices
        on customers.customer_id = invoices.customer_id
    where
        invoices.status not in ('draft', 'void')
        and cast({{ to_reporting_timezone('invoices.created_at') }} as date) <= observations.observation_date
        and cast({{ to_reporting_timezone('invoices.due_at') }} as date) < observations.observation_date
        and (
            invoices.paid_at is null
            or cast({{ to_reporting_timezone('invoices.paid_at') }} as date) > observations.observation_date
        )
    group by observations.account_id, observations.observation_date
),

ticket_state as (
    select
        observations.account_id,
        observations.observation_date,
        count(
            case when tickets.created_date > {{ dbt.dateadd('day', -90, 'observations.observation_date') }} then 1 end
        ) as tickets_90d,
        count(
            case
                when
                    tickets.created_date > {{ dbt.dateadd('day', -90, 'observations.observation_date') }}
                    and tickets.priority in ('high', 'urgent')
                    then 1
            end
        ) as urgent_tickets_90d,
        count(
            case
                when
                    tickets.resolved_at is null
                    or cast({{ to_reporting_timezone('tickets.resolved_at') }} as date) > observations.observation_date
                    then 1
            end
        ) as open_tickets,
        -- A rating exists once its ticket is resolved, so only tickets resolved by the date count.
        avg(
            case
                when
                    cast({{ to_reporting_timezone('tickets.resolved_at') }} as date) <= observations.observation_date
                    and tickets.created_date > {{ dbt.dateadd('day', -180, 'observations.observation_date') }}
                    then tickets.csat_score
            end
        ) as csat_avg_180d
    from observations
    inner join tickets
        on
            observations.account_id = tickets.account_id
            and observations.observation_date >= tickets.created_date
    group by observations.account_id, observations.observation_date
),

latest_nps as (
    select
        observations.account_id,
        observations.observation_date,
        nps_responses.nps_score,
        nps_responses.answered_date,
        row_number() over (
            partition by observations.account_id, observations.observation_date
            order by nps_responses.answered_at desc, nps_responses.response_id desc
        ) as response_rank
    from observations
    inner join nps_responses
        on
            observations.account_id = nps_responses.account_id
            and observations.observation_date >= nps_responses.answered_date
),

cs_touch_state as (
    select
        observations.account_id,
        observations.observation_date,
        count(
            case
                when
                    cs_activities.is_customer_touch
                    and cs_activities.occurred_date > {{ dbt.dateadd('day', -90, 'observations.observation_date') }}
                    then 1
            end
        ) as cs_touches_90d,
        max(case when cs_activities.is_customer_touch then cs_activities.occurred_date end) as last_touch_date,
        count(
            case
                when
                    cs_activities.is_competitor_mentioned
                    and cs_activities.occurred_date > {{ dbt.dateadd('day', -90, 'observations.observation_date') }}
                    then 1
            end
        ) as competitor_mentions_90d
    from observations
    inner join cs_activities
        on
            observations.account_id = cs_activities.account_id
            and observations.observation_date >= cs_activities.occurred_date
    group by observations.account_id, observations.observation_date
),

feature_usage as (
    select
        observations.account_id,
        observations.observation_date,
        count(distinct case when catalog.is_premium then catalog.feature_name end) as premium_features_used_30d
    {%- for feature in catalog_features %},
        cast(sum(
            case when catalog.feature_name = '{{ feature.name | replace("'", "''") }}' then events.event_count else 0 end
        ) as {{ dbt.type_bigint() }}) as {{ feature.column }}
        {%- endfor %}
    from observations
    inner join events
        on
            observations.account_id = events.account_id
            and observations.observation_date >= events.event_date
            and events.event_date > {{ dbt.dateadd('day', -30, 'observations.observation_date') }}
    inner join catalog
        on events.event_name = catalog.event_name and catalog.is_feature
    group by observations.account_id, observations.observation_date
),

features_available as (
    select count(distinct feature_name) as feature_count
    from catalog
    where is_feature
),

final as (
    select
        observations.account_id,
        observations.observation_date,
        observations.horizon_end_date,
        case
            when observations.horizon_end_date <= as_of.as_of_date then coalesce(horizon_churn.has_churned, 1)
        end as churned_within_horizon,
        cast(risk_signals.risk_share as double) as rule_based_risk_share,
        cast(observations.mrr as double) as mrr,
        cast(observations.mrr - mrr_history.mrr_3_months_before as double) as mrr_change_3m,
        {{ dbt.datediff('mrr_history.first_month_start_date', 'observations.observation_date', 'day') }}
            as tenure_days,
        coalesce(billing_state.seats, 0) as seats,
        accounts.employee_count,
        coalesce(usage_daily.event_count_30d, 0) as events_30d,
        coalesce(usage_daily.event_count_previous_30d, 0) as events_prev_30d,
        case
            when usage_daily.event_count_previous_30d > 0
                then 1.0 * usage_daily.event_count_30d / usage_daily.event_count_previous_30d
        end as events_trend_30d,
        coalesce(usage_daily.active_days_30d, 0) as active_days_30d,
        coalesce(usage_daily.active_users_30d, 0) as active_users_30d,
        case
            when billing_state.seats > 0 then 1.0 * usage_daily.active_users_30d / billing_state.seats
        end as active_users_per_seat,
        {{ dbt.datediff('usage_daily.last_active_date', 'observations.observation_date', 'day') }}
            as days_since_last_event,
        coalesce(usage_daily.features_used_30d, 0) as features_used_30d,
        case
            when features_available.feature_count > 0
                then 1.0 * usage_daily.features_used_30d / features_available.feature_count
        end as feature_breadth_30d,
        coalesce(feature_usage.premium_features_used_30d, 0) as premium_features_used_30d,
        coalesce(crm_daily.ticket_count_30d, 0) as tickets_30d,
        coalesce(ticket_state.tickets_90d, 0) as tickets_90d,
        coalesce(ticket_state.urgent_tickets_90d, 0) as urgent_tickets_90d,
        coalesce(ticket_state.open_tickets, 0) as open_tickets,
        ticket_state.csat_avg_180d,
        latest_nps.nps_score as nps_latest,
        {{ dbt.datediff('latest_nps.answered_date', 'observations.observation_date', 'day') }} as days_since_nps,
        coalesce(cs_touch_state.cs_touches_90d, 0) as cs_touches_90d,
        {{ dbt.datediff('cs_touch_state.last_touch_date', 'observations.observation_date', 'day') }}
            as days_since_cs_touch,
        coalesce(cs_touch_state.competitor_mentions_90d, 0) as competitor_mentions_90d,
        coalesce(crm_daily.champions_left_90d, 0) as champion_left_90d,
        coalesce(crm_daily.champion_count, 0) as active_champions,
        coalesce(invoice_state.invoices_overdue, 0) as invoices_overdue,
        coalesce(invoice_state.days_past_due_max, 0) as days_past_due_max,
        coalesce(billing_state.is_cancel_scheduled, 0) as is_cancel_scheduled,
        {{ dbt.datediff('observations.observation_date', 'billing_state.next_period_end_date', 'day') }}
            as days_to_period_end,
        cast(health_daily.health_score as double) as health_score,
        cast(health_daily.usage_score as double) as health_usage,
        cast(health_daily.engagement_score as double) as health_engagement,
        cast(health_daily.satisfaction_score as double) as health_satisfaction,
        cast(health_daily.growth_score as double) as health_growth,
        cast(health_daily.relationship_score as double) as health_relationship,
        billing_state.plan_tier,
        billing_state.billing_interval,
        {{ dbt.right('billing_state.ranked_status', dbt.length('billing_state.ranked_status') ~ ' - 2') }}
            as subscription_status,
        accounts.industry
    {%- for feature in catalog_features %},
        coalesce(feature_usage.{{ feature.column }}, 0) as {{ feature.column }}
        {%- endfor %}
    from observations
    cross join as_of
    cross join features_available
    inner join accounts
        on observations.account_id = accounts.account_id
    left join horizon_churn
        on
            observations.account_id = horizon_churn.account_id
            and observations.observation_date = horizon_churn.observation_date
    left join mrr_history
        on
            observations.account_id = mrr_history.account_id
            and observations.observation_date = mrr_history.observation_date
    left join billing_state
        on
            observations.account_id = billing_state.account_id
            and observations.observation_date = billing_state.observation_date
    left join invoice_state
        on
            observations.account_id = invoice_state.account_id
            and observations.observation_date = invoice_state.observation_date
    left join ticket_state
        on
            observations.account_id = ticket_state.account_id
            and observations.observation_date = ticket_state.observation_date
    left join latest_nps
        on
            observations.account_id = latest_nps.account_id
            and observations.observation_date = latest_nps.observation_date
            and latest_nps.response_rank = 1
    left join cs_touch_state
        on
            observations.account_id = cs_touch_state.account_id
            and observations.observation_date = cs_touch_state.observation_date
    left join feature_usage
        on
            observations.account_id = feature_usage.account_id
            and observations.observation_date = feature_usage.observation_date
    left join usage_daily
        on
            observations.account_id = usage_daily.account_id
            and observations.observation_date = usage_daily.date_day
    left join crm_daily
        on
            observations.account_id = crm_daily.account_id
            and observations.observation_date = crm_daily.date_day
    left join health_daily
        on
            observations.account_id = health_daily.account_id
            and observations.observation_date = health_daily.date_day
    left join risk_signals
        on
            observations.account_id = risk_signals.account_id
            and observations.observation_date = risk_signals.date_day
)

select * from final
