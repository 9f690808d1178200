-- Support, survey and CSM signals of each account on each day of its spine, as trailing counts.
-- Tickets count on the day they were opened. A CSAT rating counts from the day its ticket was resolved,
-- because customers rate after resolution: placing it on the opening day would let a score computed
-- for that day see a rating given later. A rated ticket with no resolution time is left out. A contact counts
-- as a champion from the day it was added (or the spine's first day when that is unknown) until the
-- day it left.
with

spine as (
    select * from {{ ref('int_cs__account_day_spine') }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
),

nps_responses as (
    select * from {{ ref('stg_crm__nps_responses') }}
),

activities as (
    select * from {{ ref('stg_crm__cs_activities') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

account_first_days as (
    select
        account_id,
        min(date_day) as first_date
    from spine
    group by account_id
),

daily_tickets as (
    select
        account_id,
        created_date as date_day,
        count(*) as ticket_count
    from tickets
    group by account_id, created_date
),

daily_csat as (
    select
        account_id,
        resolved_date as date_day,
        sum(csat_score) as csat_score_sum,
        count(csat_score) as csat_rating_count
    from tickets
    where csat_score is not null and resolved_date is not null
    group by account_id, resolved_date
),

daily_nps as (
    select
        account_id,
        answered_date as date_day,
        avg(nps_score) as nps_score
    from nps_responses
    group by account_id, answered_date
),

daily_activities as (
    select
        account_id,
        occurred_date as date_day,
        sum(case when is_customer_touch then 1 else 0 end) as touch_count,
        sum(case when is_competitor_mentioned then 1 else 0 end) as competitor_mention_count
    from activities
    group by account_id, occurred_date
),

champion_changes as (
    select
        contacts.account_id,
        case
            when contacts.created_date is null or contacts.created_date < account_first_days.first_date
                then account_first_days.first_date
            else contacts.created_date
        end as date_day,
        1 as champion_change,
        0 as champion_left_count
    from contacts
    inner join account_first_days
        on contacts.account_id = account_first_days.account_id
    where contacts.is_champion
    union all
    select
        contacts.account_id,
        case
            when contacts.left_date < account_first_days.first_date then account_first_days.first_date
            else contacts.left_date
        end as date_day,
        -1 as champion_change,
        1 as champion_left_count
    from contacts
    inner join account_first_days
        on contacts.account_id = account_first_days.account_id
    where contacts.is_champion and contacts.left_date is not null
),

daily_champion_changes as (
    select
        account_id,
        date_day,
        sum(champion_change) as champion_change,
        sum(champion_left_count) as champion_left_count
    from champion_changes
    group by account_id, date_day
),

joined as (
    select
        spine.account_id,
        spine.date_day,
        coalesce(daily_tickets.ticket_count, 0) as ticket_count,
        coalesce(daily_csat.csat_score_sum, 0) as csat_score_sum,
        coalesce(daily_csat.csat_rating_count, 0) as csat_rating_count,
        daily_nps.nps_score,
        coalesce(daily_activities.touch_count, 0) as touch_count,
        coalesce(daily_activities.competitor_mention_count, 0) as competitor_mention_count,
        coalesce(daily_champion_changes.champion_change, 0) as champion_change,
        coalesce(daily_champion_changes.champion_left_count, 0) as champion_left_count
    from spine
    left join daily_tickets
        on spine.account_id = daily_tickets.account_id and spine.date_day = daily_tickets.date_day
    left join daily_csat
        on spine.account_id = daily_csat.account_id and spine.date_day = daily_csat.date_day
    left join daily_nps
        on spine.account_id = daily_nps.account_id and spine.date_day = daily_nps.date_day
    left join daily_activities
        on spine.account_id = daily_activities.account_id and spine.date_day = daily_activities.date_day
    left join daily_champion_changes
        on
            spine.account_id = daily_champion_changes.account_id
            and spine.date_day = daily_champion_changes.date_day
),

windows as (
    select
        account_id,
        date_day,
        ticket_count,
        {{ cs_trailing_sum('ticket_count', 30) }} as ticket_count_30d,
        {{ cs_trailing_sum('csat_score_sum', 90) }} as csat_score_sum_90d,
        {{ cs_trailing_sum('csat_rating_count', 90) }} as csat_rating_count_90d,
        {{ cs_trailing_sum('touch_count', 90) }} as touch_count_90d,
        {{ cs_trailing_sum('competitor_mention_count', 90) }} as competitor_mention_count_90d,
        {{ cs_trailing_sum('champion_left_count', 90) }} as champions_left_90d,
        sum(champion_change) over (
            partition by account_id order by date_day rows between unbounded preceding and current row
        ) as champion_count,
        max(case when nps_score is not null then date_day end) over (
            partition by account_id order by date_day rows between unbounded preceding and current row
        ) as latest_nps_date
    from joined
),

final as (
    select
        windows.account_id,
        windows.date_day,
        windows.ticket_count,
        cast(windows.ticket_count_30d as {{ dbt.type_bigint() }}) as ticket_count_30d,
        case
            when windows.csat_rating_count_90d > 0
                then 1.0 * windows.csat_score_sum_90d / windows.csat_rating_count_90d
        end as csat_average_90d,
        cast(windows.csat_rating_count_90d as {{ dbt.type_bigint() }}) as csat_rating_count_90d,
        cast(windows.touch_count_90d as {{ dbt.type_bigint() }}) as touch_count_90d,
        cast(windows.competitor_mention_count_90d as {{ dbt.type_bigint() }}) as competitor_mention_count_90d,
        cast(windows.champions_left_90d as {{ dbt.type_bigint() }}) as champions_left_90d,
        cast(windows.champion_count as {{ dbt.type_bigint() }}) as champion_count,
        windows.latest_nps_date,
        daily_nps.nps_score as latest_nps_score
    from windows
    left join daily_nps
        on windows.account_id = daily_nps.account_id and windows.latest_nps_date = daily_nps.date_day
)

select * from final
