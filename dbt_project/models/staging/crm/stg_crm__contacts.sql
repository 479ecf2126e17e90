with

source as (

    select * from {{ source('crm', 'contacts') }}

),

renamed as (

    select
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(role as {{ dbt.type_string() }}) as contact_role,
        {{ try_cast('last_activity_date', 'date') }} as last_activity_date

    from source

)

select * from renamed
