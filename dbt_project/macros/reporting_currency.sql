{#- The reporting currency as a lowercase SQL string literal, e.g. 'usd'. -#}
{% macro reporting_currency() -%}
    '{{ var("reporting_currency", "usd") | lower }}'
{%- endmacro %}
