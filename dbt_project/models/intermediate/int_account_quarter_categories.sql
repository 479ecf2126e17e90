{#- Compact account x quarter x product category purchases (built from the product aggregate, not from lines). -#}
with

products as (

    select * from {{ ref('int_account_quarter_products') }}

),

aggregated as (

    select
        account_id,
        quarter_start,
        quarter_index,
        product_category,
        sum(gross_sales) as gross_sales,
        sum(n_purchase_lines) as n_purchase_lines,
        count(product_id) as n_products

    from products
    group by account_id, quarter_start, quarter_index, product_category

),

final as (

    select
        account_id,
        quarter_start,
        quarter_index,
        product_category,
        cast(gross_sales as {{ type_double() }}) as gross_sales,
        cast(n_purchase_lines as bigint) as n_purchase_lines,
        cast(n_products as bigint) as n_products

    from aggregated

)

select * from final
