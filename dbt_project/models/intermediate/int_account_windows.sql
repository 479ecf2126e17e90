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

account_quarter_products as (

    select * from {{ ref('int_account_quarter_products') }}

),

account_quarter_categories as (

    select * from {{ ref('int_account_quarter_categories') }}

),

quarters_vs_cutoffs as (

    select
        account_quarters.*,
        calendar.cutoff_date,
        calendar.label_observable,
        calendar.cutoff_quarter_index - account_quarters.quarter_index as quarters_before

    from account_quarters
    inner join calendar
        on account_quarters.quarter_index < calendar.cutoff_quarter_index + 4

),

windows as (

    select
        account_id,
        cutoff_date,
        sum(case when quarters_before between 1 and 4 then revenue else 0 end) as revenue_t12m,
        {#- Margin of the costed lines: NULL when the window has lines but none with a unit_cost. -#}
        case when sum(case when quarters_before between 1 and 4 then n_lines else 0 end) = 0 then 0
            else sum(case when quarters_before between 1 and 4 then gross_margin end)
        end as gross_margin_t12m,
        sum(case when quarters_before between 1 and 4 then costed_revenue else 0 end) as costed_revenue_t12m,
        sum(case when quarters_before between 1 and 4 then gross_sales else 0 end) as gross_sales_t12m,
        sum(case when quarters_before between 1 and 4 then n_lines else 0 end) as lines_t12m,
        sum(case when quarters_before between 1 and 4 then n_return_lines else 0 end) as return_lines_t12m,
        sum(case when quarters_before between 1 and 4 then n_orders else 0 end) as orders_t12m,
        sum(case when quarters_before between 1 and 4 then n_orders_rfp else 0 end) as orders_rfp_t12m,
        sum(case when quarters_before between 1 and 4 then sales_field else 0 end) as sales_field_t12m,
        sum(case when quarters_before between 1 and 4 then sales_phone else 0 end) as sales_phone_t12m,
        sum(case when quarters_before between 1 and 4 then sales_web else 0 end) as sales_web_t12m,
        sum(case when quarters_before between 1 and 4 then sales_edi else 0 end) as sales_edi_t12m,
        sum(case when quarters_before between 1 and 4 then sales_rfp else 0 end) as sales_rfp_t12m,
        sum(case when quarters_before between 1 and 4 then list_value else 0 end) as list_value_t12m,
        sum(case when quarters_before between 1 and 4 then discount_value else 0 end) as discount_value_t12m,
        sum(case when quarters_before between 5 and 8 then revenue else 0 end) as revenue_prev_t12m,
        sum(case when quarters_before = 1 then revenue else 0 end) as revenue_last_q,
        sum(case when quarters_before >= 1 then revenue else 0 end) as revenue_lifetime,
        sum(case when quarters_before >= 1 then n_orders else 0 end) as orders_lifetime,
        min(case when quarters_before >= 1 then first_order_date end) as first_order_date,
        max(case when quarters_before >= 1 then last_order_date end) as last_order_date,
        case
            when max(case when label_observable then 1 else 0 end) = 1
                then sum(case when quarters_before between -3 and 0 then revenue else 0 end)
        end as revenue_next_4q

    from quarters_vs_cutoffs
    group by account_id, cutoff_date

),

{#-
    Distinct products (categories) bought in each cut-off's trailing 12 months, without expanding every
    purchase row to the four windows it falls in and counting distinct values there (the slowest part
    of the build at scale). A purchase in quarter q lies in the window of cut-offs q+1 .. q+4. For each
    account and product, a purchase adds the cut-offs not already covered by its previous purchase
    quarter p: max(q+1, p+5) .. q+4. These intervals are disjoint per product, so the distinct count
    at a cut-off is the number of intervals containing it: a plain count over a few intervals per account.
-#}
product_intervals as (

    select
        account_id,
        quarter_index + 4 as last_cutoff_index,
        greatest(
            quarter_index + 1,
            coalesce(
                lag(quarter_index) over (partition by account_id, product_id order by quarter_index) + 5,
                quarter_index + 1
            )
        ) as first_cutoff_index

    from account_quarter_products
    where n_purchase_lines > 0

),

category_intervals as (

    select
        account_id,
        quarter_index + 4 as last_cutoff_index,
        greatest(
            quarter_index + 1,
            coalesce(
                lag(quarter_index) over (partition by account_id, product_category order by quarter_index) + 5,
                quarter_index + 1
            )
        ) as first_cutoff_index

    from account_quarter_categories
    where n_purchase_lines > 0

),

product_interval_counts as (

    select account_id, first_cutoff_index, last_cutoff_index, count(*) as n_products
    from product_intervals
    where first_cutoff_index <= last_cutoff_index
    group by account_id, first_cutoff_index, last_cutoff_index

),

category_interval_counts as (

    select account_id, first_cutoff_index, last_cutoff_index, count(*) as n_categories
    from category_intervals
    where first_cutoff_index <= last_cutoff_index
    group by account_id, first_cutoff_index, last_cutoff_index

),

products_t12m as (

    select
        product_interval_counts.account_id,
        calendar.cutoff_date,
        sum(product_interval_counts.n_products) as n_products_t12m

    from product_interval_counts
    inner join calendar
        on calendar.cutoff_quarter_index between product_interval_counts.first_cutoff_index
            and product_interval_counts.last_cutoff_index
    group by product_interval_counts.account_id, calendar.cutoff_date

),

categories_t12m as (

    select
        category_interval_counts.account_id,
        calendar.cutoff_date,
        sum(category_interval_counts.n_categories) as n_categories_t12m

    from category_interval_counts
    inner join calendar
        on calendar.cutoff_quarter_index between category_interval_counts.first_cutoff_index
            and category_interval_counts.last_cutoff_index
    group by category_interval_counts.account_id, calendar.cutoff_date

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
        cast(coalesce(products_t12m.n_products_t12m, 0) as bigint) as n_products_t12m,
        cast(coalesce(categories_t12m.n_categories_t12m, 0) as bigint) as n_categories_t12m,
        cast(windows.revenue_prev_t12m as {{ type_double() }}) as revenue_prev_t12m,
        cast(windows.revenue_last_q as {{ type_double() }}) as revenue_last_q,
        cast(windows.revenue_lifetime as {{ type_double() }}) as revenue_lifetime,
        cast(windows.orders_lifetime as bigint) as orders_lifetime,
        windows.first_order_date,
        windows.last_order_date,
        cast(windows.revenue_next_4q as {{ type_double() }}) as revenue_next_4q

    from windows
    left join products_t12m
        on windows.account_id = products_t12m.account_id
        and windows.cutoff_date = products_t12m.cutoff_date
    left join categories_t12m
        on windows.account_id = categories_t12m.account_id
        and windows.cutoff_date = categories_t12m.cutoff_date

)

select * from final
