{#-
    The one pass over order lines: account x quarter aggregates that every trailing window is
    computed from. Purchase measures (gross_sales, sales_<channel>, list/discount value, orders)
    use lines with quantity > 0; revenue and gross_margin are net of returns. gross_margin sums the
    lines with a known unit_cost (NULL when none has one) and costed_revenue is their net revenue, so
    margin rates can be taken over the costed part. The month-in-quarter columns (_m1.._m3) feed
    int_account_months without a second pass over the lines.
-#}
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

lines as (

    select
        account_id,
        {{ quarter_start('order_date') }} as quarter_start,
        order_id,
        site_id,
        order_date,
        cast(extract(month from order_date) as integer)
            - 3 * (cast(extract(quarter from order_date) as integer) - 1) as month_in_quarter,
        channel,
        quantity,
        discount,
        list_amount,
        net_amount,
        gross_margin,
        costed_net_amount,
        case when quantity > 0 then net_amount else 0 end as sales_amount

    from transactions

),

aggregated as (

    select
        account_id,
        quarter_start,
        sum(net_amount) as revenue,
        sum(gross_margin) as gross_margin,
        sum(costed_net_amount) as costed_revenue,
        sum(sales_amount) as gross_sales,
        sum(case when quantity < 0 then -net_amount else 0 end) as returns_amount,
        count(*) as n_lines,
        sum(case when quantity < 0 then 1 else 0 end) as n_return_lines,
        sum(case when channel = 'field' then sales_amount else 0 end) as sales_field,
        sum(case when channel = 'phone' then sales_amount else 0 end) as sales_phone,
        sum(case when channel = 'web' then sales_amount else 0 end) as sales_web,
        sum(case when channel = 'edi' then sales_amount else 0 end) as sales_edi,
        sum(case when channel = 'rfp' then sales_amount else 0 end) as sales_rfp,
        sum(case when quantity > 0 then list_amount else 0 end) as list_value,
        sum(case when quantity > 0 then list_amount * discount else 0 end) as discount_value,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        sum(case when month_in_quarter = 1 then net_amount else 0 end) as revenue_m1,
        sum(case when month_in_quarter = 1 then sales_amount else 0 end) as gross_sales_m1,
        sum(case when month_in_quarter = 1 then 1 else 0 end) as n_lines_m1,
        sum(case when month_in_quarter = 1 and quantity > 0 then 1 else 0 end) as n_purchase_lines_m1,
        sum(case when month_in_quarter = 2 then net_amount else 0 end) as revenue_m2,
        sum(case when month_in_quarter = 2 then sales_amount else 0 end) as gross_sales_m2,
        sum(case when month_in_quarter = 2 then 1 else 0 end) as n_lines_m2,
        sum(case when month_in_quarter = 2 and quantity > 0 then 1 else 0 end) as n_purchase_lines_m2,
        sum(case when month_in_quarter = 3 then net_amount else 0 end) as revenue_m3,
        sum(case when month_in_quarter = 3 then sales_amount else 0 end) as gross_sales_m3,
        sum(case when month_in_quarter = 3 then 1 else 0 end) as n_lines_m3,
        sum(case when month_in_quarter = 3 and quantity > 0 then 1 else 0 end) as n_purchase_lines_m3

    from lines
    group by account_id, quarter_start

),

{#-
    Distinct purchase orders per quarter as a narrow two-step count (one row per order, then a count)
    beside the wide aggregate, instead of count(distinct) inside it: the distinct aggregates cost more
    than all the sums together (DuckDB, 10M lines). Sites are counted from int_account_quarter_sites,
    which has one row per account, quarter and site already: a third pass over the lines here cost
    6 s of 34 at 66M lines.
-#}
purchase_orders as (

    select
        account_id,
        quarter_start,
        order_id,
        max(case when channel = 'rfp' then 1 else 0 end) as is_rfp

    from lines
    where quantity > 0
    group by account_id, quarter_start, order_id

),

order_counts as (

    select account_id, quarter_start, count(*) as n_orders, sum(is_rfp) as n_orders_rfp
    from purchase_orders
    group by account_id, quarter_start

),

site_counts as (

    select account_id, quarter_start, count(*) as n_sites
    from {{ ref('int_account_quarter_sites') }}
    where n_purchase_lines > 0
    group by account_id, quarter_start

),

final as (

    select
        aggregated.account_id,
        aggregated.quarter_start,
        {{ quarter_index('aggregated.quarter_start') }} as quarter_index,
        cast(revenue as {{ type_double() }}) as revenue,
        cast(gross_margin as {{ type_double() }}) as gross_margin,
        cast(coalesce(costed_revenue, 0) as {{ type_double() }}) as costed_revenue,
        cast(gross_sales as {{ type_double() }}) as gross_sales,
        cast(returns_amount as {{ type_double() }}) as returns_amount,
        cast(n_lines as bigint) as n_lines,
        cast(n_return_lines as bigint) as n_return_lines,
        cast(coalesce(order_counts.n_orders, 0) as bigint) as n_orders,
        cast(coalesce(order_counts.n_orders_rfp, 0) as bigint) as n_orders_rfp,
        cast(coalesce(site_counts.n_sites, 0) as bigint) as n_sites,
        cast(sales_field as {{ type_double() }}) as sales_field,
        cast(sales_phone as {{ type_double() }}) as sales_phone,
        cast(sales_web as {{ type_double() }}) as sales_web,
        cast(sales_edi as {{ type_double() }}) as sales_edi,
        cast(sales_rfp as {{ type_double() }}) as sales_rfp,
        cast(list_value as {{ type_double() }}) as list_value,
        cast(discount_value as {{ type_double() }}) as discount_value,
        first_order_date,
        last_order_date,
        cast(revenue_m1 as {{ type_double() }}) as revenue_m1,
        cast(gross_sales_m1 as {{ type_double() }}) as gross_sales_m1,
        cast(n_lines_m1 as bigint) as n_lines_m1,
        cast(n_purchase_lines_m1 as bigint) as n_purchase_lines_m1,
        cast(revenue_m2 as {{ type_double() }}) as revenue_m2,
        cast(gross_sales_m2 as {{ type_double() }}) as gross_sales_m2,
        cast(n_lines_m2 as bigint) as n_lines_m2,
        cast(n_purchase_lines_m2 as bigint) as n_purchase_lines_m2,
        cast(revenue_m3 as {{ type_double() }}) as revenue_m3,
        cast(gross_sales_m3 as {{ type_double() }}) as gross_sales_m3,
        cast(n_lines_m3 as bigint) as n_lines_m3,
        cast(n_purchase_lines_m3 as bigint) as n_purchase_lines_m3

    from aggregated
    left join order_counts
        on aggregated.account_id = order_counts.account_id
        and aggregated.quarter_start = order_counts.quarter_start
    left join site_counts
        on aggregated.account_id = site_counts.account_id
        and aggregated.quarter_start = site_counts.quarter_start

)

select * from final
