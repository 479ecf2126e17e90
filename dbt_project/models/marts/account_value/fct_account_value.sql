{#-
    Account value at the plan as-of date: trailing-12-month revenue and margin, YoY trend, tenure,
    order count and average order value, a simple CLV, the size bucket, the lifecycle stage and the
    parent-group roll-up. One row per account in dim_accounts (zeros for prospects).
    Margins cover the lines with a known unit_cost only (see _models.yml: margin_cost_coverage_t12m).
-#}
{%- set lapsed_after_days = var('lapsed_after_days') -%}
{%- if lapsed_after_days is not number or lapsed_after_days < 1 -%}
    {{ exceptions.raise_compiler_error("dbt var lapsed_after_days must be a positive number of days (e.g. 365); got " ~ lapsed_after_days) }}
{%- endif -%}

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

hierarchy as (

    select * from {{ ref('int_account_hierarchy') }}

),

accounts_at_as_of as (

    select
        accounts.account_id,
        accounts.status,
        accounts.open_pipeline_amount,
        latest_cutoff.as_of_date,
        windows.account_id is not null as has_lines,
        coalesce(windows.revenue_t12m, 0) as revenue_t12m,
        case when windows.account_id is null then 0 else windows.gross_margin_t12m end as gross_margin_t12m,
        coalesce(windows.costed_revenue_t12m, 0) as costed_revenue_t12m,
        coalesce(windows.gross_sales_t12m, 0) as gross_sales_t12m,
        coalesce(windows.revenue_prev_t12m, 0) as revenue_prev_t12m,
        coalesce(windows.revenue_lifetime, 0) as revenue_lifetime,
        coalesce(windows.orders_t12m, 0) as orders_t12m,
        windows.first_order_date,
        windows.last_order_date,
        {{ days_between('windows.last_order_date', 'latest_cutoff.as_of_date') }} as recency_days

    from accounts
    cross join latest_cutoff
    left join windows
        on accounts.account_id = windows.account_id
        and latest_cutoff.cutoff_date = windows.cutoff_date

),

final as (

    select
        accounts_at_as_of.account_id,
        accounts_at_as_of.as_of_date,
        cast(accounts_at_as_of.revenue_t12m as {{ type_double() }}) as revenue_t12m,
        cast(accounts_at_as_of.gross_margin_t12m as {{ type_double() }}) as gross_margin_t12m,
        case when accounts_at_as_of.costed_revenue_t12m > 0
            then {{ safe_divide('accounts_at_as_of.gross_margin_t12m', 'accounts_at_as_of.costed_revenue_t12m') }}
        end as margin_pct_t12m,
        cast(accounts_at_as_of.revenue_prev_t12m as {{ type_double() }}) as revenue_prev_t12m,
        case when accounts_at_as_of.revenue_prev_t12m > 0
            then {{ safe_divide('accounts_at_as_of.revenue_t12m - accounts_at_as_of.revenue_prev_t12m', 'accounts_at_as_of.revenue_prev_t12m') }}
        end as yoy_growth,
        cast(accounts_at_as_of.revenue_lifetime as {{ type_double() }}) as revenue_lifetime,
        accounts_at_as_of.first_order_date,
        accounts_at_as_of.last_order_date,
        cast(coalesce({{ days_between('accounts_at_as_of.first_order_date', 'accounts_at_as_of.as_of_date') }}, 0) as {{ type_double() }}) / 365.25
            as tenure_years,
        cast(accounts_at_as_of.orders_t12m as bigint) as orders_t12m,
        cast(
            (case when accounts_at_as_of.gross_margin_t12m > 0 then accounts_at_as_of.gross_margin_t12m else 0 end)
            * {{ clv_lifetime_multiplier() }}
            as {{ type_double() }}
        ) as clv_estimate,
        cast({{ size_bucket_case('accounts_at_as_of.revenue_t12m') }} as {{ dbt.type_string() }}) as size_bucket,
        case when accounts_at_as_of.revenue_t12m > 0
            then least({{ safe_divide('accounts_at_as_of.costed_revenue_t12m', 'accounts_at_as_of.revenue_t12m') }}, cast(1 as {{ type_double() }}))
        end as margin_cost_coverage_t12m,
        case when accounts_at_as_of.orders_t12m > 0
            then {{ safe_divide('accounts_at_as_of.gross_sales_t12m', 'accounts_at_as_of.orders_t12m') }}
        end as avg_order_value_t12m,
        cast(
            case
                when accounts_at_as_of.status = 'active'
                    and accounts_at_as_of.recency_days < {{ lapsed_after_days }} then 'active'
                when accounts_at_as_of.status = 'active' then 'lapsed'
                when accounts_at_as_of.open_pipeline_amount > 0 then 'pipeline'
                else 'prospect'
            end
            as {{ dbt.type_string() }}
        ) as lifecycle,
        hierarchy.top_parent_account_id,
        hierarchy.depth as hierarchy_depth,
        hierarchy.n_group_accounts,
        hierarchy.rollup_revenue_t12m,
        hierarchy.group_revenue_t12m

    from accounts_at_as_of
    left join hierarchy
        on accounts_at_as_of.account_id = hierarchy.account_id

)

select * from final
