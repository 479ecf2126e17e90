{#- Revenue per account and calendar quarter before the plan as-of date (seasonality, goal phasing, charts). -#}
with

account_quarters as (

    select * from {{ ref('int_account_quarters') }}

),

latest_cutoff as (

    select * from {{ ref('int_plan_calendar') }}
    where is_latest

),

final as (

    select
        account_quarters.account_id,
        account_quarters.quarter_start,
        account_quarters.revenue,
        account_quarters.gross_margin,
        account_quarters.n_orders as orders

    from account_quarters
    inner join latest_cutoff
        on account_quarters.quarter_start < latest_cutoff.as_of_date

)

select * from final
