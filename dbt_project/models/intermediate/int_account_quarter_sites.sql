{#- Compact account x quarter x delivery site purchases, for site counts and site concentration. -#}
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

aggregated as (

    select
        account_id,
        {{ quarter_start('order_date') }} as quarter_start,
        site_id,
        sum(case when quantity > 0 then net_amount else 0 end) as gross_sales,
        sum(net_amount) as revenue,
        sum(case when quantity > 0 then 1 else 0 end) as n_purchase_lines

    from transactions
    group by account_id, {{ quarter_start('order_date') }}, site_id

),

final as (

    select
        account_id,
        quarter_start,
        {{ quarter_index('quarter_start') }} as quarter_index,
        site_id,
        cast(gross_sales as {{ type_double() }}) as gross_sales,
        cast(revenue as {{ type_double() }}) as revenue,
        cast(n_purchase_lines as bigint) as n_purchase_lines

    from aggregated

)

select * from final
