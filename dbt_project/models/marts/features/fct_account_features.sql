{#-
    Point-in-time account features per cut-off (int_plan_calendar) and the label to learn from.
    Every feature uses data strictly before cutoff_date (windows are built on quarters that end
    before it); the label is the revenue of the 4 quarters starting at cutoff_date, NULL when those
    quarters are not all observed yet. Firmographics and contacts are the current CRM snapshot.
-#}
with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

calendar as (

    select * from {{ ref('int_plan_calendar') }}

),

windows as (

    select * from {{ ref('int_account_windows') }}

),

account_cutoffs as (

    select
        accounts.account_id,
        accounts.industry,
        accounts.employees,
        accounts.annual_revenue,
        accounts.n_contacts,
        calendar.cutoff_date,
        calendar.is_latest,
        calendar.label_observable

    from accounts
    inner join calendar
        on accounts.created_at < calendar.cutoff_date

),

final as (

    select
        account_cutoffs.account_id,
        account_cutoffs.cutoff_date,
        account_cutoffs.is_latest,
        account_cutoffs.industry,
        account_cutoffs.employees,
        account_cutoffs.annual_revenue,
        account_cutoffs.n_contacts,
        cast(coalesce(windows.revenue_t12m, 0) as {{ type_double() }}) as revenue_t12m,
        cast(coalesce(windows.revenue_prev_t12m, 0) as {{ type_double() }}) as revenue_prev_t12m,
        cast(coalesce(windows.revenue_last_q, 0) as {{ type_double() }}) as revenue_last_q,
        cast(case when windows.account_id is null then 0 else windows.gross_margin_t12m end as {{ type_double() }})
            as gross_margin_t12m,
        cast(coalesce(windows.orders_t12m, 0) as bigint) as orders_t12m,
        cast(coalesce(windows.n_categories_t12m, 0) as bigint) as n_categories_t12m,
        cast({{ share_of('windows.sales_rfp_t12m', 'windows.gross_sales_t12m') }} as {{ type_double() }})
            as share_rfp,
        cast({{ share_of('windows.sales_web_t12m', 'windows.gross_sales_t12m') }} as {{ type_double() }})
            as share_web,
        cast({{ share_of('windows.discount_value_t12m', 'windows.list_value_t12m') }} as {{ type_double() }})
            as avg_discount,
        {{ days_between('windows.last_order_date', 'account_cutoffs.cutoff_date') }} as recency_days,
        cast(coalesce({{ days_between('windows.first_order_date', 'account_cutoffs.cutoff_date') }}, 0) as integer)
            as tenure_days,
        account_cutoffs.label_observable,
        cast(
            case when account_cutoffs.label_observable then coalesce(windows.revenue_next_4q, 0) end
            as {{ type_double() }}
        ) as label_revenue_next_4q

    from account_cutoffs
    left join windows
        on account_cutoffs.account_id = windows.account_id
        and account_cutoffs.cutoff_date = windows.cutoff_date

)

select * from final
