{#- Generic test: the combination of `combination_of_columns` is unique. Returns one row per
    duplicated combination with its count, so a failure shows which keys repeat. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set column_list = combination_of_columns | join(', ') %}
    select
        {{ column_list }},
        count(*) as row_count
    from {{ model }}
    group by {{ column_list }}
    having count(*) > 1
{% endtest %}
