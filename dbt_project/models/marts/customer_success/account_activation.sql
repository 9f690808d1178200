{%- set target_days = var('activation_target_days', 14) -%}
-- Activation of each CRM account: days from account creation to its first activation event (the
-- catalog's is_activation events), against a target of var activation_target_days (default 14). The
-- onboarding completion is the share of the catalog's onboarding tasks the account has completed.
with

accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

events as (
    select * from {{ ref('int_product__user_event_days') }}
),

features as (
    select * from {{ ref('stg_product__features') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

first_activations as (
    select
        events.account_id,
        min(events.event_date) as activation_date
    from events
    inner join features
        on events.event_name = features.event_name
    where features.is_activation
    group by events.account_id
),

onboarding_catalog as (
    select count(distinct onboarding_task) as onboarding_tasks
    from features
    where onboarding_task is not null
),

completed_tasks as (
    select
        events.account_id,
        count(distinct features.onboarding_task) as onboarding_tasks_completed
    from events
    inner join features
        on events.event_name = features.event_name
    where features.onboarding_task is not null
    group by events.account_id
),

measured as (
    select
        accounts.account_id,
        accounts.csm_id,
        accounts.created_date,
        first_activations.activation_date,
        {{ dbt.datediff('accounts.created_date', 'first_activations.activation_date', 'day') }}
            as days_to_activation,
        {{ dbt.datediff('accounts.created_date', 'as_of.as_of_date', 'day') }} as days_since_creation,
        coalesce(completed_tasks.onboarding_tasks_completed, 0) as onboarding_tasks_completed,
        onboarding_catalog.onboarding_tasks
    from accounts
    cross join as_of
    cross join onboarding_catalog
    left join first_activations
        on accounts.account_id = first_activations.account_id
    left join completed_tasks
        on accounts.account_id = completed_tasks.account_id
),

final as (
    select
        account_id,
        csm_id,
        created_date,
        activation_date,
        -- An activation event before the CRM creation date counts as activation on day 0.
        case when days_to_activation < 0 then 0 else days_to_activation end as days_to_activation,
        {{ target_days }} as activation_target_days,
        case
            when activation_date is not null and days_to_activation <= {{ target_days }} then 'activated_on_time'
            when activation_date is not null then 'activated_late'
            when days_since_creation <= {{ target_days }} then 'not_activated_yet'
            else 'missed'
        end as activation_status,
        onboarding_tasks_completed,
        onboarding_tasks,
        case
            when onboarding_tasks > 0 then 1.0 * onboarding_tasks_completed / onboarding_tasks
        end as onboarding_completion_rate
    from measured
)

select * from final
