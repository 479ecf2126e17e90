{#-
    How each account buys, over the trailing 12 months before the plan as-of date. One row per
    account in dim_accounts. Channel shares, discount depth and site concentration are measured on
    purchases (lines with quantity > 0, net of discount, before returns) so they stay within 0..1.
-#}
{%- set w_rfp = var('price_seeking_weight_rfp') | float -%}
{%- set w_discount = var('price_seeking_weight_discount') | float -%}
{%- set w_narrowness = var('price_seeking_weight_narrowness') | float -%}
{%- set w_total = w_rfp + w_discount + w_narrowness -%}
{%- set discount_cap = var('price_seeking_discount_cap') | float -%}
{%- set breadth = var('price_seeking_category_breadth') | int -%}
{%- if w_rfp < 0 or w_discount < 0 or w_narrowness < 0 or w_total <= 0 or discount_cap <= 0 or breadth < 2 -%}
    {{ exceptions.raise_compiler_error("dbt vars price_seeking_weight_* must be >= 0 with a positive sum, price_seeking_discount_cap > 0 and price_seeking_category_breadth >= 2") }}
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

account_quarter_sites as (

    select * from {{ ref('int_account_quarter_sites') }}

),

account_months as (

    select * from {{ ref('int_account_months') }}

),

{#- Purchase revenue per month over the 12 months before as_of_date (months without purchases are
    absent and count as 0 below). -#}
months_t12m as (

    select
        account_months.account_id,
        sum(case when account_months.n_purchase_lines > 0 then 1 else 0 end) as active_months_t12m,
        sum(account_months.gross_sales) as gross_sales_months,
        sum(account_months.gross_sales * account_months.gross_sales) as gross_sales_squares

    from account_months
    inner join latest_cutoff
        on account_months.month_start >= latest_cutoff.t12m_start_date
        and account_months.month_start < latest_cutoff.as_of_date
    group by account_months.account_id

),

monthly_regularity as (

    select
        account_id,
        active_months_t12m,
        case when gross_sales_months > 0 then
            sqrt(greatest(
                gross_sales_squares / 12.0 - (gross_sales_months / 12.0) * (gross_sales_months / 12.0),
                cast(0 as {{ type_double() }})
            )) / (gross_sales_months / 12.0)
        end as monthly_sales_cv_t12m

    from months_t12m

),

sites_before_as_of as (

    select
        account_quarter_sites.account_id,
        account_quarter_sites.site_id,
        sum(
            case when account_quarter_sites.quarter_index >= latest_cutoff.cutoff_quarter_index - 4
                then account_quarter_sites.gross_sales else 0 end
        ) as gross_sales_t12m

    from account_quarter_sites
    inner join latest_cutoff
        on account_quarter_sites.quarter_index < latest_cutoff.cutoff_quarter_index
    where account_quarter_sites.n_purchase_lines > 0
    group by account_quarter_sites.account_id, account_quarter_sites.site_id

),

sites_per_account as (

    select
        account_id,
        count(distinct site_id) as n_sites_lifetime,
        count(distinct case when gross_sales_t12m > 0 then site_id end) as n_sites_t12m,
        max(gross_sales_t12m) as top_site_gross_sales_t12m

    from sites_before_as_of
    group by account_id

),

behaviour as (

    select
        accounts.account_id,
        latest_cutoff.as_of_date,
        coalesce(windows.orders_t12m, 0) as orders_t12m,
        coalesce(windows.lines_t12m, 0) as lines_t12m,
        coalesce(windows.return_lines_t12m, 0) as return_lines_t12m,
        {{ days_between('windows.last_order_date', 'latest_cutoff.as_of_date') }} as recency_days,
        coalesce(windows.n_categories_t12m, 0) as n_categories_t12m,
        coalesce(windows.n_products_t12m, 0) as n_products_t12m,
        coalesce(windows.gross_sales_t12m, 0) as gross_sales_t12m,
        {{ share_of('windows.sales_field_t12m', 'windows.gross_sales_t12m') }} as share_field,
        {{ share_of('windows.sales_phone_t12m', 'windows.gross_sales_t12m') }} as share_phone,
        {{ share_of('windows.sales_web_t12m', 'windows.gross_sales_t12m') }} as share_web,
        {{ share_of('windows.sales_edi_t12m', 'windows.gross_sales_t12m') }} as share_edi,
        {{ share_of('windows.sales_rfp_t12m', 'windows.gross_sales_t12m') }} as share_rfp,
        {{ share_of('windows.discount_value_t12m', 'windows.list_value_t12m') }} as avg_discount_t12m,
        coalesce(sites_per_account.n_sites_t12m, 0) as n_sites_t12m,
        coalesce(sites_per_account.n_sites_lifetime, 0) as n_sites_lifetime,
        {{ share_of('sites_per_account.top_site_gross_sales_t12m', 'windows.gross_sales_t12m') }}
            as top_site_share_t12m,
        coalesce(windows.orders_rfp_t12m, 0) as orders_rfp_t12m,
        coalesce(monthly_regularity.active_months_t12m, 0) as active_months_t12m,
        monthly_regularity.monthly_sales_cv_t12m,
        accounts.n_contacts,
        accounts.n_contact_roles

    from accounts
    cross join latest_cutoff
    left join windows
        on accounts.account_id = windows.account_id
        and latest_cutoff.cutoff_date = windows.cutoff_date
    left join sites_per_account
        on accounts.account_id = sites_per_account.account_id
    left join monthly_regularity
        on accounts.account_id = monthly_regularity.account_id

),

components as (

    select
        *,
        case
            when avg_discount_t12m >= {{ discount_cap }} then 1.0
            else avg_discount_t12m / {{ discount_cap }}
        end as discount_depth,
        case
            when n_categories_t12m <= 1 then 1.0
            when n_categories_t12m >= {{ breadth }} then 0.0
            else 1.0 - cast(n_categories_t12m - 1 as {{ type_double() }}) / {{ breadth - 1 }}
        end as category_narrowness

    from behaviour

),

final as (

    select
        account_id,
        as_of_date,
        cast(orders_t12m as bigint) as orders_t12m,
        cast(lines_t12m as bigint) as lines_t12m,
        cast(orders_t12m as {{ type_double() }}) / 12.0 as orders_per_month,
        cast(recency_days as integer) as recency_days,
        cast(n_categories_t12m as bigint) as n_categories_t12m,
        cast(n_products_t12m as bigint) as n_products_t12m,
        cast(share_field as {{ type_double() }}) as share_field,
        cast(share_phone as {{ type_double() }}) as share_phone,
        cast(share_web as {{ type_double() }}) as share_web,
        cast(share_edi as {{ type_double() }}) as share_edi,
        cast(share_rfp as {{ type_double() }}) as share_rfp,
        cast(avg_discount_t12m as {{ type_double() }}) as avg_discount_t12m,
        cast(n_sites_t12m as bigint) as n_sites_t12m,
        cast(top_site_share_t12m as {{ type_double() }}) as top_site_share_t12m,
        (
            n_sites_lifetime >= 2
            and top_site_share_t12m >= {{ var('central_buying_min_site_share') }}
        ) as central_buying,
        {{ share_of('return_lines_t12m', 'lines_t12m') }} as return_rate_t12m,
        case
            when gross_sales_t12m > 0 then cast(
                (
                    {{ w_rfp }} * share_rfp
                    + {{ w_discount }} * discount_depth
                    + {{ w_narrowness }} * category_narrowness
                ) / {{ w_total }}
                as {{ type_double() }}
            )
        end as price_seeking_index,
        cast(orders_rfp_t12m as bigint) as orders_rfp_t12m,
        {{ share_of('orders_rfp_t12m', 'orders_t12m') }} as share_orders_rfp,
        cast(active_months_t12m as bigint) as active_months_t12m,
        cast(active_months_t12m as {{ type_double() }}) / 12.0 as purchase_regularity,
        cast(monthly_sales_cv_t12m as {{ type_double() }}) as monthly_sales_cv_t12m,
        cast(n_contacts as bigint) as n_contacts,
        cast(n_contact_roles as bigint) as n_contact_roles,
        (n_contacts = 1 or n_contact_roles = 1) as single_threaded

    from components

)

select * from final
