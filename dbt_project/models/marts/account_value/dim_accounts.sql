{#-
    One row per CRM account (customers and prospects) with its contact and open-pipeline summary
    (current CRM snapshot). A status the source left empty is inferred: an account with an order
    line before the plan as-of date is 'active', any other a 'prospect' (status_inferred = true).
-#}
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

latest_cutoff as (

    select * from {{ ref('int_plan_calendar') }}
    where is_latest

),

accounts_with_lines as (

    select distinct account_quarters.account_id

    from {{ ref('int_account_quarters') }} as account_quarters
    inner join latest_cutoff
        on account_quarters.quarter_start < latest_cutoff.as_of_date

),

contacts_per_account as (

    select
        account_id,
        count(*) as n_contacts,
        count(distinct contact_role) as n_contact_roles,
        max(last_activity_date) as last_contact_activity_date

    from contacts
    group by account_id

),

open_pipeline_per_account as (

    select
        account_id,
        count(*) as n_open_opportunities,
        sum(coalesce(amount, 0)) as open_pipeline_amount

    from opportunities
    where not is_closed
    group by account_id

),

final as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.industry,
        accounts.employees,
        accounts.annual_revenue,
        accounts.city,
        accounts.state,
        accounts.country,
        accounts.lat,
        accounts.lon,
        accounts.parent_account_id,
        accounts.created_at,
        cast(
            coalesce(accounts.status, case when accounts_with_lines.account_id is not null then 'active' else 'prospect' end)
            as {{ dbt.type_string() }}
        ) as status,
        accounts.owner_rep_id,
        cast(coalesce(contacts_per_account.n_contacts, 0) as bigint) as n_contacts,
        cast(coalesce(contacts_per_account.n_contact_roles, 0) as bigint) as n_contact_roles,
        contacts_per_account.last_contact_activity_date,
        cast(coalesce(open_pipeline_per_account.n_open_opportunities, 0) as bigint) as n_open_opportunities,
        cast(coalesce(open_pipeline_per_account.open_pipeline_amount, 0) as {{ type_double() }}) as open_pipeline_amount,
        accounts.status is null as status_inferred

    from accounts
    left join contacts_per_account
        on accounts.account_id = contacts_per_account.account_id
    left join open_pipeline_per_account
        on accounts.account_id = open_pipeline_per_account.account_id
    left join accounts_with_lines
        on accounts.account_id = accounts_with_lines.account_id

)

select * from final
