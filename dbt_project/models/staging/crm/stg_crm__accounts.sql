with

source as (

    select * from {{ source('crm', 'accounts') }}

),

renamed as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(account_name as {{ dbt.type_string() }}) as account_name,
        cast(industry as {{ dbt.type_string() }}) as industry,
        {{ try_cast('employees', 'integer') }} as employees,
        {{ try_cast('annual_revenue', type_double()) }} as annual_revenue,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(country as {{ dbt.type_string() }}) as country,
        {{ try_cast('lat', type_double()) }} as lat,
        {{ try_cast('lon', type_double()) }} as lon,
        cast(parent_account_id as {{ dbt.type_string() }}) as parent_account_id,
        {{ try_cast('created_at', 'date') }} as created_at,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(owner_rep_id as {{ dbt.type_string() }}) as owner_rep_id

    from source

)

select * from renamed
