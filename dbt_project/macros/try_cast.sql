{#-
    try_cast(expr, data_type): cast that yields NULL instead of failing on a bad value.
    dbt.safe_cast is a plain cast on DuckDB and PostgreSQL, so it cannot be used for this.
    DuckDB, Spark (3.2+), Snowflake, Databricks: native try_cast.
    PostgreSQL has no try_cast: the text form is checked against a pattern for the type family
    (numbers, dates, booleans) before casting; other types are cast plainly.
-#}
{% macro try_cast(expr, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'covplan')(expr, data_type)) }}
{%- endmacro %}

{% macro default__try_cast(expr, data_type) -%}
    try_cast({{ expr }} as {{ data_type }})
{%- endmacro %}

{% macro postgres__try_cast(expr, data_type) -%}
    {%- set t = data_type | lower | trim -%}
    {%- set as_text = "trim(cast(" ~ expr ~ " as text))" -%}
    {%- if t in ('smallint', 'integer', 'int', 'bigint', 'int2', 'int4', 'int8') -%}
        case when {{ as_text }} ~ '^[-+]?[0-9]+$' then cast({{ as_text }} as {{ data_type }}) end
    {%- elif t.startswith('numeric') or t.startswith('decimal') or t in ('double', 'double precision', 'real', 'float', 'float4', 'float8') -%}
        case when {{ as_text }} ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'
            then cast({{ as_text }} as {{ 'double precision' if t in ('double', 'float') else data_type }}) end
    {%- elif t == 'date' -%}
        case when {{ as_text }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' then cast(substr({{ as_text }}, 1, 10) as date) end
    {%- elif t in ('boolean', 'bool') -%}
        case when lower({{ as_text }}) in ('true', 't', '1', 'yes', 'y') then true
             when lower({{ as_text }}) in ('false', 'f', '0', 'no', 'n') then false end
    {%- else -%}
        cast({{ expr }} as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
