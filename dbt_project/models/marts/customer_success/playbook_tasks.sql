{%- set steps = cs_playbook_steps() -%}
-- Tasks of the playbooks open on the as-of date, assigned to the account's CSM. A playbook opens on the
-- first day of the current unbroken run of days with its risk. The risks are low_usage (usage component
-- below 40), support_issues (more than 5 tickets in 30 days or satisfaction below 50), competitor_threat
-- (competitor mentioned in 90 days), renewal (annual renewal within 90 days), champion_change (a
-- champion left in 90 days). Each step is due that many days after the opening day. Priority follows
-- the account's churn risk tier (model score, or rule-based level without one).
with

health as (
    select * from {{ ref('account_health_daily') }}
),

risk_signals as (
    select * from {{ ref('churn_risk_signals') }}
),

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

churn_probability as (
    select * from {{ ref('int_cs__account_churn_probability') }}
),

daily_risks as (
    select
        risk_signals.account_id,
        risk_signals.date_day,
        health.is_usage_risk as is_low_usage,
        risk_signals.has_many_tickets_30d or health.is_satisfaction_risk as is_support_issues,
        risk_signals.has_competitor_mention_90d as is_competitor_threat,
        risk_signals.has_renewal_within_90d as is_renewal,
        risk_signals.has_champion_left_90d as is_champion_change
    from risk_signals
    inner join health
        on risk_signals.account_id = health.account_id and risk_signals.date_day = health.date_day
),

risk_days as (
    {% for risk_type in steps -%}
        select
            account_id,
            date_day,
            '{{ risk_type }}' as risk_type,
            is_{{ risk_type }} as is_open
        from daily_risks
        {{ 'union all' if not loop.last }}
    {% endfor %}
),

-- Consecutive days: a gap in the paying days also ends a run.
runs as (
    select
        account_id,
        risk_type,
        date_day,
        is_open,
        {{ dbt.datediff(
            'lag(date_day) over (partition by account_id, risk_type order by date_day)', 'date_day', 'day'
        ) }} as days_since_previous_row,
        lag(is_open) over (partition by account_id, risk_type order by date_day) as was_open
    from risk_days
),

openings as (
    select
        account_id,
        risk_type,
        max(date_day) as opened_date
    from runs
    where is_open and (was_open is null or not was_open or days_since_previous_row > 1)
    group by account_id, risk_type
),

open_playbooks as (
    select
        openings.account_id,
        openings.risk_type,
        openings.opened_date,
        snapshot.as_of_date,
        snapshot.csm_id
    from openings
    inner join snapshot
        on openings.account_id = snapshot.account_id
    inner join risk_days
        on
            openings.account_id = risk_days.account_id
            and openings.risk_type = risk_days.risk_type
            and snapshot.as_of_date = risk_days.date_day
    where risk_days.is_open
),

playbook_steps as (
    {% for risk_type, risk_steps in steps.items() -%}
        {% set is_last_risk_type = loop.last -%}
        {% for step_day, title in risk_steps -%}
            select
                '{{ risk_type }}' as risk_type,
                {{ loop.index }} as step_number,
                {{ step_day }} as step_day,
                '{{ title }}' as task_title
            {{ 'union all' if not (is_last_risk_type and loop.last) }}
        {% endfor -%}
    {% endfor %}
),

scheduled_tasks as (
    select
        open_playbooks.account_id,
        open_playbooks.csm_id,
        open_playbooks.risk_type,
        open_playbooks.opened_date,
        open_playbooks.as_of_date,
        playbook_steps.step_number,
        playbook_steps.step_day,
        playbook_steps.task_title,
        cast({{ dbt.dateadd('day', 'playbook_steps.step_day', 'open_playbooks.opened_date') }} as date) as due_date
    from open_playbooks
    inner join playbook_steps
        on open_playbooks.risk_type = playbook_steps.risk_type
),

final as (
    select
        {{ dbt.concat(['scheduled_tasks.account_id', "'-'", 'scheduled_tasks.risk_type', "'-'",
            'cast(scheduled_tasks.step_number as ' ~ dbt.type_string() ~ ')']) }} as task_id,
        scheduled_tasks.account_id,
        scheduled_tasks.csm_id,
        scheduled_tasks.risk_type,
        scheduled_tasks.opened_date,
        scheduled_tasks.step_number,
        scheduled_tasks.step_day,
        scheduled_tasks.task_title,
        scheduled_tasks.due_date,
        case
            when scheduled_tasks.due_date < scheduled_tasks.as_of_date then 'overdue'
            when scheduled_tasks.due_date = scheduled_tasks.as_of_date then 'due_today'
            else 'upcoming'
        end as task_status,
        case
            when churn_probability.risk_tier = 'high' then 'high'
            when churn_probability.risk_tier = 'medium' then 'medium'
            else 'low'
        end as priority,
        churn_probability.churn_probability,
        churn_probability.probability_source,
        scheduled_tasks.as_of_date
    from scheduled_tasks
    left join churn_probability
        on scheduled_tasks.account_id = churn_probability.account_id
)

select * from final
