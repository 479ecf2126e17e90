with

source as (

    select * from {{ source('erp', 'transactions') }}

),

renamed as (

    select
        cast(transaction_id as {{ dbt.type_string() }}) as transaction_id,
        {#- Optional in user files: a line without an order id is an order of its own, a line without a
            site id was delivered to the account's one (main) site, named after the account. -#}
        cast(coalesce(cast(order_id as {{ dbt.type_string() }}), 'line:' || cast(transaction_id as {{ dbt.type_string() }}))
            as {{ dbt.type_string() }}) as order_id,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(coalesce(cast(site_id as {{ dbt.type_string() }}), cast(account_id as {{ dbt.type_string() }}))
            as {{ dbt.type_string() }}) as site_id,
        {{ try_cast('order_date', 'date') }} as order_date,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(product_category as {{ dbt.type_string() }}) as product_category,
        {{ try_cast('quantity', type_double()) }} as quantity,
        {{ try_cast('unit_price', type_double()) }} as unit_price,
        {{ try_cast('unit_cost', type_double()) }} as unit_cost,
        {{ try_cast('discount', type_double()) }} as discount,
        cast(channel as {{ dbt.type_string() }}) as channel

    from source

),

derived as (

    select
        *,
        quantity * unit_price as list_amount,
        quantity * unit_price * (1 - discount) as net_amount,
        {#- NULL when unit_cost is unknown: margin unknown, never 0. -#}
        quantity * (unit_price * (1 - discount) - unit_cost) as gross_margin,
        case when unit_cost is not null then quantity * unit_price * (1 - discount) end as costed_net_amount,
        quantity < 0 as is_return

    from renamed

)

select * from derived
