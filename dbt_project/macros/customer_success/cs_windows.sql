{#- Changes to a trailing distinct count. `relation` has one row per account_id, `key_column` value
    and `date_column` on which the key was seen. A key counts on day d when it was seen in the
    `window_days` days ending on d. Each sighting opens a span that ends `window_days` later or at the
    next sighting, whichever is first, so spans of one key never overlap: summing the returned
    +1/-1 changes up to a day gives the distinct count of that day. -#}
{% macro cs_trailing_distinct_changes(relation, key_column, date_column, window_days) -%}
    with sightings as (
        select distinct
            account_id,
            {{ key_column }} as sighted_key,
            {{ date_column }} as sighted_date
        from {{ relation }}
    ),

    spans as (
        select
            account_id,
            sighted_date as span_start_date,
            {{ dbt.dateadd('day', window_days, 'sighted_date') }} as window_end_date,
            lead(sighted_date) over (
                partition by account_id, sighted_key order by sighted_date
            ) as next_sighted_date
        from sightings
    )

    select
        account_id,
        span_start_date as change_date,
        1 as change_count
    from spans
    union all
    select
        account_id,
        cast(
            case
                when next_sighted_date is not null and next_sighted_date < window_end_date then next_sighted_date
                else window_end_date
            end as date
        ) as change_date,
        -1 as change_count
    from spans
{%- endmacro %}
