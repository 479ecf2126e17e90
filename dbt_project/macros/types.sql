{#- 64-bit float type name: `double` on DuckDB/Spark, `double precision` on PostgreSQL. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'covplan')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double{%- endmacro %}

{% macro postgres__type_double() -%}double precision{%- endmacro %}
