{#- Fails unless exactly one row satisfies the condition (e.g. one latest cut-off in a calendar). -#}
{% test expect_exactly_one_row_where(model, condition) %}

with

matching as (

    select count(*) as n_rows
    from {{ model }}
    where {{ condition }}

)

select n_rows from matching
where n_rows <> 1

{% endtest %}
