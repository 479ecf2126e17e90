{#-
    One row per sales rep: the CRM rep roster plus any owner_rep_id of an account that the roster
    lacks (in_roster = false, name/role/home/capacity unknown), so every owner can be looked up even
    when the reps extract is empty. Accounts owned are the CRM's current owners.
-#}
with

reps as (

    select * from {{ ref('stg_crm__reps') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

account_value as (

    select * from {{ ref('fct_account_value') }}

),

owned as (

    select
        accounts.owner_rep_id as rep_id,
        count(*) as n_accounts_owned,
        sum(case when account_value.lifecycle = 'active' then 1 else 0 end) as n_active_accounts_owned,
        sum(account_value.revenue_t12m) as revenue_t12m_owned

    from accounts
    inner join account_value
        on accounts.account_id = account_value.account_id
    where accounts.owner_rep_id is not null
    group by accounts.owner_rep_id

),

owners_without_roster_row as (

    select owned.rep_id

    from owned
    left join reps
        on owned.rep_id = reps.rep_id
    where reps.rep_id is null

),

all_reps as (

    select
        rep_id,
        rep_name,
        rep_role,
        home_city,
        home_state,
        home_lat,
        home_lon,
        capacity_hours,
        true as in_roster

    from reps

    union all

    select
        rep_id,
        cast(null as {{ dbt.type_string() }}) as rep_name,
        cast(null as {{ dbt.type_string() }}) as rep_role,
        cast(null as {{ dbt.type_string() }}) as home_city,
        cast(null as {{ dbt.type_string() }}) as home_state,
        cast(null as {{ type_double() }}) as home_lat,
        cast(null as {{ type_double() }}) as home_lon,
        cast(null as {{ type_double() }}) as capacity_hours,
        false as in_roster

    from owners_without_roster_row

),

final as (

    select
        all_reps.rep_id,
        all_reps.rep_name,
        all_reps.rep_role,
        all_reps.home_city,
        all_reps.home_state,
        all_reps.home_lat,
        all_reps.home_lon,
        all_reps.capacity_hours,
        all_reps.in_roster,
        cast(coalesce(owned.n_accounts_owned, 0) as bigint) as n_accounts_owned,
        cast(coalesce(owned.n_active_accounts_owned, 0) as bigint) as n_active_accounts_owned,
        cast(coalesce(owned.revenue_t12m_owned, 0) as {{ type_double() }}) as revenue_t12m_owned

    from all_reps
    left join owned
        on all_reps.rep_id = owned.rep_id

)

select * from final
