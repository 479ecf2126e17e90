{#- Compact account x quarter x product purchases, for distinct product/category counts per window. -#}
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

aggregated as (

    select
        account_id,
        {{ quarter_start('order_date') }} as quarter_start,
        product_id,
        product_category,
        sum(case when quantity > 0 then net_amount else 0 end) as gross_sales,
        sum(case when quantity > 0 then 1 else 0 end) as n_purchase_lines,
        count(*) as n_lines

    from transactions
    group by account_id, {{ quarter_start('order_date') }}, product_id, product_category

),

final as (

    select
        account_id,
        quarter_start,
        {{ quarter_index('quarter_start') }} as quarter_index,
        product_id,
        product_category,
        cast(gross_sales as {{ type_double() }}) as gross_sales,
        cast(n_purchase_lines as bigint) as n_purchase_lines,
        cast(n_lines as bigint) as n_lines

    from aggregated

)

select * from final
