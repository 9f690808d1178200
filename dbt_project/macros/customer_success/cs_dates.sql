{#- Date helpers of the customer-success models. DuckDB-only syntax stays inside the target.type
    branches of this file; every other engine gets the portable form. -#}

{#- One row per day (column date_day) from start_date to end_date inclusive, both DATE expressions
    that may refer to the columns of `from_relation` (a CTE with a single row). -#}
{% macro cs_date_series(start_date, end_date, from_relation) -%}
    {%- if target.type == 'duckdb' -%}
        select cast(unnest(generate_series(
            cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval 1 day
        )) as date) as date_day
        from {{ from_relation }}
    {%- else -%}
        {#- Up to 100,000 days (about 270 years) from a cross join of digits. -#}
        with digits as (
            select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
            union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
        ),

        offsets as (
            select
                d1.digit + 10 * d2.digit + 100 * d3.digit + 1000 * d4.digit + 10000 * d5.digit as day_offset
            from digits as d1
            cross join digits as d2
            cross join digits as d3
            cross join digits as d4
            cross join digits as d5
        )

        select cast({{ dbt.dateadd('day', 'offsets.day_offset', start_date) }} as date) as date_day
        from offsets
        cross join {{ from_relation }}
        where offsets.day_offset <= {{ dbt.datediff(start_date, end_date, 'day') }}
    {%- endif -%}
{%- endmacro %}

{#- Sum of `column` over the `days` days ending on the current row, on a gap-free daily series
    partitioned by account_id and ordered by date_day. -#}
{% macro cs_trailing_sum(column, days, offset_days=0) -%}
    sum({{ column }}) over (
        partition by account_id order by date_day
        rows between {{ days - 1 + offset_days }} preceding and {{ offset_days ~ ' preceding' if offset_days else 'current row' }}
    )
{%- endmacro %}
