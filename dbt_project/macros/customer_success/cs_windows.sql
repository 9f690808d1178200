{#- Spans of a trailing distinct count. `relation` has one row per account_id, `key_column` value and
    `date_column` on which the key was seen (the caller makes the rows distinct). A key counts on day
    d when it was seen in the window of days ending on d. Each sighting opens a span that ends when
    the window has passed or at the next sighting of the key, whichever is first, so the spans of one
    key never overlap and summing their +1/-1 changes up to a day gives the distinct count of that
    day. The spans hold the next sighting, so one pass serves windows of any length
    (cs_span_end_date). -#}
{% macro cs_sighting_spans(relation, key_column, date_column) -%}
    select
        account_id,
        {{ date_column }} as span_start_date,
        lead({{ date_column }}) over (
            partition by account_id, {{ key_column }} order by {{ date_column }}
        ) as next_sighted_date
    from {{ relation }}
{%- endmacro %}

{#- Day on which a span of cs_sighting_spans stops counting for a window of `window_days` days. -#}
{% macro cs_span_end_date(window_days) -%}
    cast(
        case
            when next_sighted_date is not null
                and next_sighted_date < {{ dbt.dateadd('day', window_days, 'span_start_date') }}
                then next_sighted_date
            else {{ dbt.dateadd('day', window_days, 'span_start_date') }}
        end as date
    )
{%- endmacro %}
