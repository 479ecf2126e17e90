with

source as (

    select * from {{ source('crm', 'reps') }}

),

renamed as (

    select
        cast(rep_id as {{ dbt.type_string() }}) as rep_id,
        cast(rep_name as {{ dbt.type_string() }}) as rep_name,
        cast(role as {{ dbt.type_string() }}) as rep_role,
        cast(home_city as {{ dbt.type_string() }}) as home_city,
        cast(home_state as {{ dbt.type_string() }}) as home_state,
        {{ try_cast('home_lat', type_double()) }} as home_lat,
        {{ try_cast('home_lon', type_double()) }} as home_lon,
        {{ try_cast('capacity_hours', type_double()) }} as capacity_hours

    from source

)

select * from renamed
