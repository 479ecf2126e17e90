{#-
    on-run-start, DuckDB target only: log every dbt invocation on the warehouse file in
    state.dbt_invocations. The orchestrator skips an unchanged `dbt build` only when no dbt ran on the
    warehouse since its last build (orchestration/warehouse_state.py): a `dbt run` by hand with other vars
    would otherwise leave marts the skip does not know about.
-#}
{% macro log_dbt_invocation() %}
    {%- if target.type != 'duckdb' or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- do run_query('create schema if not exists state') -%}
    {%- do run_query('create table if not exists state.dbt_invocations (invocation_id varchar not null)') -%}
    {%- do run_query("insert into state.dbt_invocations values ('" ~ invocation_id ~ "')") -%}
    {{ return('') }}
{% endmacro %}
