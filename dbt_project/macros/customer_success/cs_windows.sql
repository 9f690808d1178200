{#- Changes of a trailing distinct count. `relation` has one row per account_id, `key_column` value and
    `date_column` on which the key was seen (the caller makes the rows distinct). A key counts on day d
    when it was seen in the `window_days` days ending on d, so each key counts over the union of the
    intervals [sighting, sighting + window_days). Summed up to a day, the +1/-1 changes this returns
    (account_id, change_date and one column per window of `windows`) give the distinct count of that
    day. Only the edges of the union change the count: +1 on a sighting with no other sighting in the
    window before it, -1 window_days after a sighting with none in the window after it. A key seen
    every day then gives two changes instead of one per day, so far fewer rows reach the group-by that
    sums them. -#}
{% macro cs_trailing_distinct_changes(relation, key_column, date_column, windows) -%}
    {%- set names = windows.keys() | list -%}
    select
        account_id,
        change.change_date,
        {%- for name in names %}
        change.{{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            account_id,
            unnest([
                {
                    'change_date': sighted_date,
                    {%- for name in names %}
                    '{{ name }}': case
                        when previous_sighted_date is null
                            or previous_sighted_date <= {{ dbt.dateadd('day', -windows[name], 'sighted_date') }}
                            then 1
                        else 0
                    end{{ ',' if not loop.last }}
                    {%- endfor %}
                },
                {%- for name in names %}
                {%- set window_end = dbt.dateadd('day', windows[name], 'sighted_date') %}
                {
                    'change_date': cast({{ window_end }} as date),
                    {%- for other in names %}
                    '{{ other }}': {% if other == name -%}
                        case when next_sighted_date is null or next_sighted_date >= {{ window_end }} then -1 else 0 end
                    {%- else %}0{% endif %}{{ ',' if not loop.last }}
                    {%- endfor %}
                }{{ ',' if not loop.last }}
                {%- endfor %}
            ]) as change
        from (
            select
                account_id,
                {{ date_column }} as sighted_date,
                lag({{ date_column }}) over sightings as previous_sighted_date,
                lead({{ date_column }}) over sightings as next_sighted_date
            from {{ relation }}
            window sightings as (partition by account_id, {{ key_column }} order by {{ date_column }})
        ) as sightings
    ) as edges
    where
        {%- for name in names %}
        change.{{ name }} <> 0{{ ' or' if not loop.last }}
        {%- endfor %}
{%- endmacro %}
