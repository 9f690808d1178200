{%- set weights = cs_health_weights() -%}
{%- set components = ['usage', 'engagement', 'satisfaction', 'growth', 'relationship'] -%}
-- Health score of each paying account on each day: the weighted mean of five 0-100 components over
-- the components that have data, so the weights of the present ones are rescaled to sum to 1.
-- Each component is the mean of its present inputs, each input scaled to 0-1 (see the YAML).
with

account_daily as (
    select * from {{ ref('int_cs__account_daily') }}
),

inputs as (
    select
        account_id,
        date_day,
        is_paying,
        -- usage
        case when has_product_data then active_days_30d / 30.0 end as active_days_ratio,
        case
            when has_product_data and features_available > 0 then 1.0 * features_used_30d / features_available
        end as features_used_ratio,
        case
            when has_product_data and session_count_30d > 0
                then {{ cs_clamp('event_count_30d / (10.0 * session_count_30d)') }}
            when has_product_data then 0.0
        end as actions_per_session_ratio,
        case when has_product_data then active_weeks_4w / 4.0 end as active_weeks_ratio,
        -- engagement
        case
            when has_product_data and active_users_28d > 0
                then {{ cs_clamp('average_daily_users_28d / (0.5 * active_users_28d)') }}
            when has_product_data then 0.0
        end as stickiness_ratio,
        case
            when has_product_data and seat_count > 0 then {{ cs_clamp('1.0 * active_users_30d / seat_count') }}
        end as seat_activity_ratio,
        -- satisfaction
        (csat_average_90d - 1) / 4.0 as csat_ratio,
        case
            when {{ dbt.datediff('latest_nps_date', 'date_day', 'day') }} < 365 then latest_nps_score / 10.0
        end as nps_ratio,
        1 - {{ cs_clamp('ticket_count_30d / 10.0') }} as ticket_load_ratio,
        -- growth: 0.5 when flat, 1 at +20 % or more, 0 at -20 % or less
        case
            when mrr_three_months_earlier > 0
                then {{ cs_clamp('0.5 + 2.5 * (coalesce(mrr_last_month, 0) - mrr_three_months_earlier)'
                    ~ ' / mrr_three_months_earlier') }}
        end as mrr_change_ratio,
        case
            when seat_count_90d_earlier > 0
                then {{ cs_clamp('0.5 + 2.5 * (seat_count - seat_count_90d_earlier) / seat_count_90d_earlier') }}
        end as seat_change_ratio,
        -- relationship
        {{ cs_clamp('touch_count_90d / 3.0') }} as touch_ratio,
        case when champion_count > 0 then 1.0 else 0.0 end as champion_ratio
    from account_daily
),

components as (
    select
        account_id,
        date_day,
        is_paying,
        100.0 * (
            coalesce(active_days_ratio, 0) + coalesce(features_used_ratio, 0)
            + coalesce(actions_per_session_ratio, 0) + coalesce(active_weeks_ratio, 0)
        ) / nullif(
            case when active_days_ratio is null then 0 else 1 end
            + case when features_used_ratio is null then 0 else 1 end
            + case when actions_per_session_ratio is null then 0 else 1 end
            + case when active_weeks_ratio is null then 0 else 1 end,
            0
        ) as usage_score,
        100.0 * (coalesce(stickiness_ratio, 0) + coalesce(seat_activity_ratio, 0)) / nullif(
            case when stickiness_ratio is null then 0 else 1 end
            + case when seat_activity_ratio is null then 0 else 1 end,
            0
        ) as engagement_score,
        -- Ticket load alone does not measure satisfaction: the component needs a CSAT or an NPS response.
        case
            when csat_ratio is not null or nps_ratio is not null
                then 100.0 * (coalesce(csat_ratio, 0) + coalesce(nps_ratio, 0) + ticket_load_ratio) / (
                    case when csat_ratio is null then 0 else 1 end
                    + case when nps_ratio is null then 0 else 1 end
                    + 1
                )
        end as satisfaction_score,
        100.0 * (coalesce(mrr_change_ratio, 0) + coalesce(seat_change_ratio, 0)) / nullif(
            case when mrr_change_ratio is null then 0 else 1 end
            + case when seat_change_ratio is null then 0 else 1 end,
            0
        ) as growth_score,
        100.0 * (touch_ratio + champion_ratio) / 2 as relationship_score
    from inputs
),

coverage as (
    select
        *,
        case when usage_score is null then 0 else {{ weights['usage'] }} end
        + case when engagement_score is null then 0 else {{ weights['engagement'] }} end
        + case when satisfaction_score is null then 0 else {{ weights['satisfaction'] }} end
        + case when growth_score is null then 0 else {{ weights['growth'] }} end
        + case when relationship_score is null then 0 else {{ weights['relationship'] }} end as data_coverage
    from components
),

scored as (
    select
        account_id,
        date_day,
        is_paying,
        {% for component in components -%}
            {{ component }}_score,
        {% endfor -%}
        data_coverage,
        {% for component in components -%}
            case
                when {{ component }}_score is not null then {{ weights[component] }} / data_coverage
            end as {{ component }}_weight,
        {% endfor -%}
        (
            {% for component in components -%}
                coalesce({{ weights[component] }} * {{ component }}_score, 0){{ ' +' if not loop.last }}
            {% endfor -%}
        ) / nullif(data_coverage, 0) as unrounded_health_score
    from coverage
),

rounded as (
    select
        account_id,
        date_day,
        is_paying,
        cast(data_coverage as {{ dbt.type_float() }}) as data_coverage,
        {% for component in components -%}
            cast(round({{ component }}_score, 2) as {{ dbt.type_float() }}) as {{ component }}_score,
            cast(round({{ component }}_weight, 6) as {{ dbt.type_float() }}) as {{ component }}_weight,
        {% endfor -%}
        cast(round(unrounded_health_score, 2) as {{ dbt.type_float() }}) as health_score
    from scored
),

final as (
    select
        scored.account_id,
        scored.date_day,
        scored.health_score,
        case
            when scored.health_score >= 70 then 'healthy'
            when scored.health_score >= 40 then 'neutral'
            else 'at_risk'
        end as health_status,
        round(scored.health_score - earlier.health_score, 2) as health_trend_30d,
        round(scored.data_coverage, 6) as data_coverage,
        {% for component in components -%}
            scored.{{ component }}_score,
            scored.{{ component }}_weight,
        {% endfor -%}
        coalesce(scored.usage_score < 40, false) as is_usage_risk,
        coalesce(scored.satisfaction_score < 50, false) as is_satisfaction_risk,
        coalesce(scored.growth_score < 30, false) as is_growth_risk
    from rounded as scored
    left join rounded as earlier
        on
            scored.account_id = earlier.account_id
            and {{ dbt.dateadd('day', -30, 'scored.date_day') }} = earlier.date_day
    where scored.is_paying
)

select * from final
