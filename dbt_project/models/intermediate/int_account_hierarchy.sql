{#-
    Parent/child roll-up of the CRM account hierarchy at the plan as-of date. Roots are accounts
    without a parent (or whose parent is not in the CRM extract); the tree is walked down from them,
    so every account reachable from a root appears once with its top parent and depth (root = 0).
    Accounts caught in a parent cycle (A -> B -> A, or below one) are not reachable: they are their
    own top parent at depth 0 and flagged in_hierarchy_cycle. Revenue is the t12m net revenue at the
    as-of cut-off: rollup = the account plus all its descendants, group = everything under the top
    parent (the parent's total that planning sees).
-#}
with recursive

accounts as (

    select account_id, parent_account_id from {{ ref('stg_crm__accounts') }}

),

latest_cutoff as (

    select * from {{ ref('int_plan_calendar') }}
    where is_latest

),

revenue_at_as_of as (

    select windows.account_id, windows.revenue_t12m

    from {{ ref('int_account_windows') }} as windows
    inner join latest_cutoff
        on windows.cutoff_date = latest_cutoff.cutoff_date

),

edges as (

    select child.account_id, child.parent_account_id

    from accounts as child
    inner join accounts as parent
        on child.parent_account_id = parent.account_id

),

roots as (

    select accounts.account_id

    from accounts
    left join edges
        on accounts.account_id = edges.account_id
    where edges.account_id is null

),

tree as (

    select
        roots.account_id,
        roots.account_id as top_parent_account_id,
        0 as depth

    from roots

    union all

    select
        edges.account_id,
        tree.top_parent_account_id,
        tree.depth + 1 as depth

    from tree
    inner join edges
        on edges.parent_account_id = tree.account_id

),

{#- Every (account, ancestor-or-self) pair of the acyclic part, for the descendant roll-up. -#}
ancestry as (

    select
        tree.account_id,
        tree.account_id as ancestor_account_id

    from tree

    union all

    select
        ancestry.account_id,
        edges.parent_account_id as ancestor_account_id

    from ancestry
    inner join edges
        on ancestry.ancestor_account_id = edges.account_id

),

placed as (

    select
        accounts.account_id,
        accounts.parent_account_id,
        coalesce(tree.top_parent_account_id, accounts.account_id) as top_parent_account_id,
        coalesce(tree.depth, 0) as depth,
        tree.account_id is null as in_hierarchy_cycle,
        coalesce(revenue_at_as_of.revenue_t12m, 0) as revenue_t12m

    from accounts
    left join tree
        on accounts.account_id = tree.account_id
    left join revenue_at_as_of
        on accounts.account_id = revenue_at_as_of.account_id

),

descendant_totals as (

    select
        ancestry.ancestor_account_id as account_id,
        count(*) - 1 as n_descendants,
        sum(placed.revenue_t12m) as rollup_revenue_t12m

    from ancestry
    inner join placed
        on ancestry.account_id = placed.account_id
    group by ancestry.ancestor_account_id

),

group_totals as (

    select
        top_parent_account_id,
        count(*) as n_group_accounts,
        sum(revenue_t12m) as group_revenue_t12m

    from placed
    group by top_parent_account_id

),

final as (

    select
        placed.account_id,
        placed.parent_account_id,
        placed.top_parent_account_id,
        cast(placed.depth as integer) as depth,
        placed.in_hierarchy_cycle,
        cast(coalesce(descendant_totals.n_descendants, 0) as bigint) as n_descendants,
        cast(group_totals.n_group_accounts as bigint) as n_group_accounts,
        cast(placed.revenue_t12m as {{ type_double() }}) as revenue_t12m,
        cast(coalesce(descendant_totals.rollup_revenue_t12m, placed.revenue_t12m) as {{ type_double() }}) as rollup_revenue_t12m,
        cast(group_totals.group_revenue_t12m as {{ type_double() }}) as group_revenue_t12m

    from placed
    left join descendant_totals
        on placed.account_id = descendant_totals.account_id
    inner join group_totals
        on placed.top_parent_account_id = group_totals.top_parent_account_id

)

select * from final
