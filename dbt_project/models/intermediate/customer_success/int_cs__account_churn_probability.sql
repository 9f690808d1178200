{%- set max_score_age_days = var('churn_score_max_age_days', 45) -%}
-- The churn probability of each paying account on the as-of date. It is the latest score of the churn
-- model (source ml.churn_scores) dated at most var churn_score_max_age_days (default 45) days before the
-- as-of date. An account without such a score falls back to the rule-based risk share and level, and
-- probability_source names the one used.
with

snapshot as (
    select * from {{ ref('int_cs__account_snapshot') }}
),

churn_scores as (
    select * from {{ source('ml', 'churn_scores') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

ranked_scores as (
    select
        churn_scores.account_id,
        churn_scores.as_of_date as score_as_of_date,
        churn_scores.model_version,
        churn_scores.churn_probability,
        churn_scores.risk_tier,
        churn_scores.driver_1,
        churn_scores.driver_2,
        churn_scores.driver_3,
        row_number() over (
            partition by churn_scores.account_id
            order by churn_scores.as_of_date desc, churn_scores.scored_at desc, churn_scores.model_version desc
        ) as score_rank
    from churn_scores
    cross join as_of
    where
        churn_scores.as_of_date <= as_of.as_of_date
        and churn_scores.as_of_date > {{ dbt.dateadd('day', '-1 * ' ~ max_score_age_days, 'as_of.as_of_date') }}
),

final as (
    select
        snapshot.account_id,
        snapshot.as_of_date,
        coalesce(ranked_scores.churn_probability, snapshot.risk_share) as churn_probability,
        coalesce(ranked_scores.risk_tier, snapshot.risk_level) as risk_tier,
        case when ranked_scores.account_id is not null then 'model' else 'rule_based' end as probability_source,
        ranked_scores.model_version,
        ranked_scores.score_as_of_date,
        ranked_scores.driver_1,
        ranked_scores.driver_2,
        ranked_scores.driver_3
    from snapshot
    left join ranked_scores
        on snapshot.account_id = ranked_scores.account_id and ranked_scores.score_rank = 1
    where snapshot.is_paying
)

select * from final
