{#-
    Trailing windows per account x cut-off, computed on the quarterly aggregates (never on lines).
    quarters_before = cut-off quarter - data quarter: 1..4 is the trailing 12 months (t12m), 5..8 the
    12 months before, 1 the last quarter, >= 1 the lifetime, -3..0 the label (the 4 quarters starting
    at the cut-off). Cut-offs are quarter starts, so a line dated the day before a cut-off feeds the
    features and a line dated on the cut-off feeds the label: nothing on or after the cut-off leaks
    into a feature. The label is NULL unless the calendar marks it observable.
-#}
with

calendar as (

    select * from {{ ref('int_plan_calendar') }}

),

account_quarters as (

    select * from {{ ref('int_account_quarters') }}

),

assortment as (

    select * from {{ ref('int_account_assortment') }}

),

{#-
    Window sums as fixed-size ROWS frames over a dense timeline: one row per account and quarter,
    from 3 quarters before the account's first quarter (the earliest cut-off whose label it feeds)
    to the end of the timeline (below), quarters without lines holding zero measures (NULL margin).
    With no gaps a quarter range is a row range, so the frames need no search and no probe rows:
    [c-4, c-1] is the t12m, [c-8, c-5] the year before, [c-1, c-1] the last quarter, everything
    before c the lifetime, [c, c+3] the label, read at the rows of the cut-offs. This replaced range
    frames over the sparse quarters plus one probe row per cut-off (about twice the window work),
    which had replaced a quarter x cut-off join whose hash aggregate spilled.
-#}
account_first_quarters as (

    select account_id, min(quarter_index) as first_quarter_index
    from account_quarters
    group by account_id

),

{{ quarter_offsets_ctes() }}

{#- The timeline ends at the last cut-off, or up to 3 quarters later where data goes on (a label
    window starting at the last cut-offs; with the default as-of date there is no data after it). -#}
cutoff_bounds as (

    select
        (select min(first_quarter_index) from account_first_quarters) - 3 as first_quarter_index,
        (select max(cutoff_quarter_index) from calendar) as last_cutoff_index,
        (select max(quarter_index) from account_quarters) as last_data_quarter_index

),

timeline_bounds as (

    select
        first_quarter_index,
        greatest(last_cutoff_index, least(last_cutoff_index + 3, last_data_quarter_index)) as last_quarter_index

    from cutoff_bounds

),

{#- Every quarter from the earliest timeline start to its end, with its cut-off (if any). -#}
quarter_grid as (

    select
        timeline_bounds.first_quarter_index + offsets.quarter_offset as quarter_index,
        calendar.cutoff_date,
        calendar.label_observable

    from timeline_bounds
    inner join offsets
        on offsets.quarter_offset <= timeline_bounds.last_quarter_index - timeline_bounds.first_quarter_index
    left join calendar
        on calendar.cutoff_quarter_index = timeline_bounds.first_quarter_index + offsets.quarter_offset

),

timeline as (

    select
        account_first_quarters.account_id,
        quarter_grid.quarter_index,
        quarter_grid.cutoff_date,
        quarter_grid.label_observable,
        coalesce(account_quarters.revenue, 0) as revenue,
        account_quarters.gross_margin,
        coalesce(account_quarters.costed_revenue, 0) as costed_revenue,
        coalesce(account_quarters.gross_sales, 0) as gross_sales,
        coalesce(account_quarters.n_lines, 0) as n_lines,
        coalesce(account_quarters.n_return_lines, 0) as n_return_lines,
        coalesce(account_quarters.n_orders, 0) as n_orders,
        coalesce(account_quarters.n_orders_rfp, 0) as n_orders_rfp,
        coalesce(account_quarters.sales_field, 0) as sales_field,
        coalesce(account_quarters.sales_phone, 0) as sales_phone,
        coalesce(account_quarters.sales_web, 0) as sales_web,
        coalesce(account_quarters.sales_edi, 0) as sales_edi,
        coalesce(account_quarters.sales_rfp, 0) as sales_rfp,
        coalesce(account_quarters.list_value, 0) as list_value,
        coalesce(account_quarters.discount_value, 0) as discount_value,
        account_quarters.first_order_date,
        account_quarters.last_order_date

    from account_first_quarters
    inner join quarter_grid
        on quarter_grid.quarter_index >= account_first_quarters.first_quarter_index - 3
    left join account_quarters
        on account_first_quarters.account_id = account_quarters.account_id
        and quarter_grid.quarter_index = account_quarters.quarter_index

),

framed as (

    select
        account_id,
        cutoff_date,
        label_observable,
        sum(revenue) over t12m as revenue_t12m,
        sum(gross_margin) over t12m as gross_margin_sum_t12m,
        sum(costed_revenue) over t12m as costed_revenue_t12m,
        sum(gross_sales) over t12m as gross_sales_t12m,
        sum(n_lines) over t12m as lines_t12m,
        sum(n_return_lines) over t12m as return_lines_t12m,
        sum(n_orders) over t12m as orders_t12m,
        sum(n_orders_rfp) over t12m as orders_rfp_t12m,
        sum(sales_field) over t12m as sales_field_t12m,
        sum(sales_phone) over t12m as sales_phone_t12m,
        sum(sales_web) over t12m as sales_web_t12m,
        sum(sales_edi) over t12m as sales_edi_t12m,
        sum(sales_rfp) over t12m as sales_rfp_t12m,
        sum(list_value) over t12m as list_value_t12m,
        sum(discount_value) over t12m as discount_value_t12m,
        sum(revenue) over prev_t12m as revenue_prev_t12m,
        sum(revenue) over last_q as revenue_last_q,
        sum(revenue) over lifetime as revenue_lifetime,
        sum(n_orders) over lifetime as orders_lifetime,
        min(first_order_date) over lifetime as first_order_date,
        max(last_order_date) over lifetime as last_order_date,
        sum(revenue) over next_4q as revenue_next_4q

    from timeline
    window
        t12m as (partition by account_id order by quarter_index rows between 4 preceding and 1 preceding),
        prev_t12m as (partition by account_id order by quarter_index rows between 8 preceding and 5 preceding),
        last_q as (partition by account_id order by quarter_index rows between 1 preceding and 1 preceding),
        lifetime as (partition by account_id order by quarter_index rows between unbounded preceding and 1 preceding),
        next_4q as (partition by account_id order by quarter_index rows between current row and 3 following)

),

{#- An empty frame sums to NULL; the join-and-group form gave 0 there, so coalesce. -#}
windows as (

    select
        account_id,
        cutoff_date,
        coalesce(revenue_t12m, 0) as revenue_t12m,
        {#- Margin of the costed lines: NULL when the window has lines but none with a unit_cost. -#}
        case when coalesce(lines_t12m, 0) = 0 then 0 else gross_margin_sum_t12m end as gross_margin_t12m,
        coalesce(costed_revenue_t12m, 0) as costed_revenue_t12m,
        coalesce(gross_sales_t12m, 0) as gross_sales_t12m,
        coalesce(lines_t12m, 0) as lines_t12m,
        coalesce(return_lines_t12m, 0) as return_lines_t12m,
        coalesce(orders_t12m, 0) as orders_t12m,
        coalesce(orders_rfp_t12m, 0) as orders_rfp_t12m,
        coalesce(sales_field_t12m, 0) as sales_field_t12m,
        coalesce(sales_phone_t12m, 0) as sales_phone_t12m,
        coalesce(sales_web_t12m, 0) as sales_web_t12m,
        coalesce(sales_edi_t12m, 0) as sales_edi_t12m,
        coalesce(sales_rfp_t12m, 0) as sales_rfp_t12m,
        coalesce(list_value_t12m, 0) as list_value_t12m,
        coalesce(discount_value_t12m, 0) as discount_value_t12m,
        coalesce(revenue_prev_t12m, 0) as revenue_prev_t12m,
        coalesce(revenue_last_q, 0) as revenue_last_q,
        coalesce(revenue_lifetime, 0) as revenue_lifetime,
        coalesce(orders_lifetime, 0) as orders_lifetime,
        first_order_date,
        last_order_date,
        case when label_observable then coalesce(revenue_next_4q, 0) end as revenue_next_4q

    from framed
    where cutoff_date is not null

),

final as (

    select
        windows.account_id,
        windows.cutoff_date,
        cast(windows.revenue_t12m as {{ type_double() }}) as revenue_t12m,
        cast(windows.gross_margin_t12m as {{ type_double() }}) as gross_margin_t12m,
        cast(windows.costed_revenue_t12m as {{ type_double() }}) as costed_revenue_t12m,
        cast(windows.gross_sales_t12m as {{ type_double() }}) as gross_sales_t12m,
        cast(windows.lines_t12m as bigint) as lines_t12m,
        cast(windows.return_lines_t12m as bigint) as return_lines_t12m,
        cast(windows.orders_t12m as bigint) as orders_t12m,
        cast(windows.orders_rfp_t12m as bigint) as orders_rfp_t12m,
        cast(windows.sales_field_t12m as {{ type_double() }}) as sales_field_t12m,
        cast(windows.sales_phone_t12m as {{ type_double() }}) as sales_phone_t12m,
        cast(windows.sales_web_t12m as {{ type_double() }}) as sales_web_t12m,
        cast(windows.sales_edi_t12m as {{ type_double() }}) as sales_edi_t12m,
        cast(windows.sales_rfp_t12m as {{ type_double() }}) as sales_rfp_t12m,
        cast(windows.list_value_t12m as {{ type_double() }}) as list_value_t12m,
        cast(windows.discount_value_t12m as {{ type_double() }}) as discount_value_t12m,
        cast(coalesce(assortment.n_products_t12m, 0) as bigint) as n_products_t12m,
        cast(coalesce(assortment.n_categories_t12m, 0) as bigint) as n_categories_t12m,
        cast(windows.revenue_prev_t12m as {{ type_double() }}) as revenue_prev_t12m,
        cast(windows.revenue_last_q as {{ type_double() }}) as revenue_last_q,
        cast(windows.revenue_lifetime as {{ type_double() }}) as revenue_lifetime,
        cast(windows.orders_lifetime as bigint) as orders_lifetime,
        windows.first_order_date,
        windows.last_order_date,
        cast(windows.revenue_next_4q as {{ type_double() }}) as revenue_next_4q

    from windows
    left join assortment
        on windows.account_id = assortment.account_id
        and windows.cutoff_date = assortment.cutoff_date

)

select * from final
