with

source as (

    select * from {{ source('crm', 'opportunities') }}

),

renamed as (

    select
        cast(opportunity_id as {{ dbt.type_string() }}) as opportunity_id,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(stage as {{ dbt.type_string() }}) as stage,
        {{ try_cast('amount', type_double()) }} as amount,
        {{ try_cast('created_date', 'date') }} as created_date,
        {{ try_cast('close_date', 'date') }} as close_date,
        stage in ('closed_won', 'closed_lost') as is_closed

    from source

)

select * from renamed
