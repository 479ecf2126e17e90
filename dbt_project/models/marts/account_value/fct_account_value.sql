{#-
    Account value at the plan as-of date: trailing-12-month revenue and margin, YoY trend, tenure,
    a simple CLV and the size bucket. One row per account in dim_accounts (zeros for prospects).
-#}
with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

latest_cutoff as (

    select * from {{ ref('int_plan_calendar') }}
    where is_latest

),

windows as (

    select * from {{ ref('int_account_windows') }}

),

accounts_at_as_of as (

    select
        accounts.account_id,
        latest_cutoff.as_of_date,
        coalesce(windows.revenue_t12m, 0) as revenue_t12m,
        coalesce(windows.gross_margin_t12m, 0) as gross_margin_t12m,
        coalesce(windows.revenue_prev_t12m, 0) as revenue_prev_t12m,
        coalesce(windows.revenue_lifetime, 0) as revenue_lifetime,
        coalesce(windows.orders_t12m, 0) as orders_t12m,
        windows.first_order_date,
        windows.last_order_date

    from accounts
    cross join latest_cutoff
    left join windows
        on accounts.account_id = windows.account_id
        and latest_cutoff.cutoff_date = windows.cutoff_date

),

final as (

    select
        account_id,
        as_of_date,
        cast(revenue_t12m as {{ type_double() }}) as revenue_t12m,
        cast(gross_margin_t12m as {{ type_double() }}) as gross_margin_t12m,
        case when revenue_t12m > 0 then {{ safe_divide('gross_margin_t12m', 'revenue_t12m') }} end
            as margin_pct_t12m,
        cast(revenue_prev_t12m as {{ type_double() }}) as revenue_prev_t12m,
        case when revenue_prev_t12m > 0
            then {{ safe_divide('revenue_t12m - revenue_prev_t12m', 'revenue_prev_t12m') }}
        end as yoy_growth,
        cast(revenue_lifetime as {{ type_double() }}) as revenue_lifetime,
        first_order_date,
        last_order_date,
        cast(coalesce({{ days_between('first_order_date', 'as_of_date') }}, 0) as {{ type_double() }}) / 365.25
            as tenure_years,
        cast(orders_t12m as bigint) as orders_t12m,
        cast(
            (case when gross_margin_t12m > 0 then gross_margin_t12m else 0 end) * {{ clv_lifetime_multiplier() }}
            as {{ type_double() }}
        ) as clv_estimate,
        cast({{ size_bucket_case('revenue_t12m') }} as {{ dbt.type_string() }}) as size_bucket

    from accounts_at_as_of

)

select * from final
