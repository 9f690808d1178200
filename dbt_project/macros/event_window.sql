{#- The event window of an incremental run of the event models.

    The window is the vars event_window_start (first day) and event_window_end (the day after the
    last), both ISO dates in the reporting time zone. An empty var falls back to the environment
    variable CSW_EVENT_WINDOW_START or CSW_EVENT_WINDOW_END. Dagster passes the partition range it runs
    that way: the vars of every invocation then stay those of the saved parse, which dbt would
    otherwise redo (about 5 s) for each new window. A run recomputes the event dates from
    event_lookback_days before the start up to the end, so events that arrive up to that many days late
    are counted on their own day. A side left empty stays open; with both empty the whole history is
    in the window. -#}

{#- A predicate on a date column: true for the days of the window, its look-back included, widened by
    extra_days at the lower end. -#}
{% macro event_window_filter(date_column, extra_days=0) -%}
    {%- set start = var('event_window_start', '') or env_var('CSW_EVENT_WINDOW_START', '') -%}
    {%- set end = var('event_window_end', '') or env_var('CSW_EVENT_WINDOW_END', '') -%}
    {%- set days_before = (var('event_lookback_days') | int) + extra_days -%}
    {%- set clauses = [] -%}
    {%- if start -%}
        {%- do clauses.append(
            date_column ~ " >= cast(" ~ dbt.dateadd('day', -days_before, "cast('" ~ start ~ "' as date)") ~ " as date)"
        ) -%}
    {%- endif -%}
    {%- if end -%}
        {%- do clauses.append(date_column ~ " < cast('" ~ end ~ "' as date)") -%}
    {%- endif -%}
    {{ clauses | join(' and ') if clauses else 'true' }}
{%- endmacro %}


{#- Incremental strategy `replace_window`: delete the window's rows (by the model's window_column
    config) and insert the ones just computed for it. Unlike delete+insert on a unique key, a day
    whose rows all disappear (a late duplicate that moves an event to another day) is emptied too. -#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set window_column = config.require('window_column') -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ event_window_filter(window_column) }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- The relation a data test reads, filtered by the test's `where` config as dbt does by default,
    except that the placeholder __event_window__ becomes event_window_filter('event_date'). The
    macro runs when the test runs, so the window comes from the environment of that invocation, and
    a test of the event relations in a daily run reads the window's days instead of all history.
    With no window the filter is `true` and the test reads every row. dbt documents overriding
    get_where_subquery for filters that need macros ("where" config, dbt-core 1.11). -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set where = where | replace('__event_window__', event_window_filter('event_date')) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
