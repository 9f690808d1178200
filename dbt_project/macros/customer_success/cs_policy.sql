{#- Weights of the five health components; present components are renormalized to sum to 1. -#}
{% macro cs_health_weights() -%}
    {{ return({
        'usage': 0.35,
        'engagement': 0.25,
        'satisfaction': 0.20,
        'growth': 0.15,
        'relationship': 0.05,
    }) }}
{%- endmacro %}

{#- Clamp a numeric expression to [lower, upper]; written with case so that NULL stays NULL on every engine. -#}
{% macro cs_clamp(expression, lower=0, upper=1) -%}
    case
        when {{ expression }} < {{ lower }} then {{ lower }}
        when {{ expression }} > {{ upper }} then {{ upper }}
        else {{ expression }}
    end
{%- endmacro %}

{#- Risk level of a churn probability or a rule-based risk share. -#}
{% macro cs_risk_level(share) -%}
    case
        when {{ share }} > 0.5 then 'high'
        when {{ share }} > 0.3 then 'medium'
        else 'low'
    end
{%- endmacro %}

{#- Next renewal of an annual contract on or after `on_date`: the current period end when it is still
    ahead, otherwise its next anniversary. Covers exports that hold no event for each yearly renewal. -#}
{% macro cs_next_annual_renewal_date(period_end_date, on_date) -%}
    {%- set years_behind = dbt.datediff(period_end_date, on_date, 'year') -%}
    case
        when {{ period_end_date }} >= {{ on_date }} then {{ period_end_date }}
        when {{ dbt.dateadd('year', years_behind, period_end_date) }} >= {{ on_date }}
            then cast({{ dbt.dateadd('year', years_behind, period_end_date) }} as date)
        else cast({{ dbt.dateadd('year', years_behind ~ ' + 1', period_end_date) }} as date)
    end
{%- endmacro %}

{#- Median of a numeric column as an aggregate. -#}
{% macro cs_median(column) -%}
    {%- if target.type == 'duckdb' -%}
        median({{ column }})
    {%- else -%}
        percentile_cont(0.5) within group (order by {{ column }})
    {%- endif -%}
{%- endmacro %}
{#- Steps of each playbook: the day after the risk opened on which the task is due, and its title. -#}
{% macro cs_playbook_steps() -%}
    {{ return({
        'low_usage': [
            (1, 'Review usage trend and identify inactive users'),
            (3, 'Call the admin to find blockers'),
            (7, 'Run a training session for inactive users'),
            (14, 'Check usage recovery and agree next steps'),
        ],
        'support_issues': [
            (1, 'Review open tickets with the support lead'),
            (3, 'Call the customer about the open issues'),
            (7, 'Confirm fixes and follow up on CSAT'),
            (14, 'Hold a service review with the customer'),
        ],
        'competitor_threat': [
            (1, 'Log the competitor and the reason it came up'),
            (3, 'Prepare a value summary against the competitor'),
            (7, 'Meet the executive sponsor'),
            (14, 'Agree a success plan with measurable goals'),
        ],
        'renewal': [
            (1, 'Confirm the renewal date, terms and decision makers'),
            (3, 'Send the value review to the customer'),
            (7, 'Hold the renewal meeting'),
            (14, 'Send the renewal quote'),
        ],
        'champion_change': [
            (1, 'Identify who replaces the champion'),
            (3, 'Introduce yourself to the new contact'),
            (7, 'Onboard the new contact'),
            (14, 'Confirm the new champion and executive sponsor'),
        ],
    }) }}
{%- endmacro %}
