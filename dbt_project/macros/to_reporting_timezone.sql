{#- Convert a naive UTC timestamp into the wall-clock time of var('reporting_timezone'), still
    naive, so that date_trunc('month', ...) buckets it into the reporting timezone's months.
    Branches per adapter because time zone conversion has no cross-database macro. -#}
{% macro to_reporting_timezone(column) -%}
    {%- set timezone = var('reporting_timezone', 'UTC') -%}
    {%- if target.type == 'duckdb' -%}
        timezone('{{ timezone }}', {{ column }} at time zone 'UTC')
    {%- else -%}
        convert_timezone('UTC', '{{ timezone }}', {{ column }})
    {%- endif -%}
{%- endmacro %}
