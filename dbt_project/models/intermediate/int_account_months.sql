{#-
    Monthly account revenue, unpivoted from the month-in-quarter columns of int_account_quarters (no
    second pass over the order lines). One row per account x calendar month with at least one line.
-#}
with

account_quarters as (

    select * from {{ ref('int_account_quarters') }}

),

{% for m in [1, 2, 3] %}
month_{{ m }} as (

    select
        account_id,
        cast({{ dbt.dateadd('month', m - 1, 'quarter_start') }} as date) as month_start,
        quarter_index * 3 + {{ m - 1 }} as month_index,
        revenue_m{{ m }} as revenue,
        gross_sales_m{{ m }} as gross_sales,
        n_lines_m{{ m }} as n_lines,
        n_purchase_lines_m{{ m }} as n_purchase_lines

    from account_quarters
    where n_lines_m{{ m }} > 0

),
{% endfor %}

unioned as (

    select * from month_1
    union all
    select * from month_2
    union all
    select * from month_3

),

final as (

    select
        account_id,
        month_start,
        cast(month_index as integer) as month_index,
        cast(revenue as {{ type_double() }}) as revenue,
        cast(gross_sales as {{ type_double() }}) as gross_sales,
        cast(n_lines as bigint) as n_lines,
        cast(n_purchase_lines as bigint) as n_purchase_lines

    from unioned

)

select * from final
