{#-
    Spark (DBT_TARGET=spark / spark_session) support. Everything here is a no-op on DuckDB and PostgreSQL.
-#}

{#-
    on-run-start: declare the ingest's Parquet export as external tables raw.<table> on Spark, one per
    source table of the project, so the staging models read `raw.<table>` unchanged. The folder comes from
    the var spark_raw_location (the orchestrator passes config warehouse.spark) or the environment variable
    COVPLAN_SPARK_RAW_LOCATION; each table is <folder>/<table>/ (sources/raw_parquet.py writes it).
    Tables are dropped and declared again on every run: dropping an external table keeps its files, and a
    fresh declaration sees the latest export and its schema.
-#}
{% macro register_raw_parquet() %}
    {%- if target.type != 'spark' or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set location = var('spark_raw_location', none) or env_var('COVPLAN_SPARK_RAW_LOCATION', '') -%}
    {%- if not location -%}
        {{ exceptions.raise_compiler_error(
            "dbt on Spark reads the raw tables from the ingest's Parquet export, but no folder is set: "
            ~ "set warehouse.spark.raw_path in config/plan.yaml and rerun the ingest, then pass "
            ~ "COVPLAN_SPARK_RAW_LOCATION (or --vars '{spark_raw_location: <folder>}').") }}
    {%- endif -%}
    {%- set location = location.rstrip('/') -%}
    {%- set ns = namespace(schemas=[]) -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- if source.schema not in ns.schemas -%}
            {%- do run_query('create schema if not exists ' ~ source.schema) -%}
            {%- do ns.schemas.append(source.schema) -%}
        {%- endif -%}
        {%- set relation = source.schema ~ '.' ~ source.identifier -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query("create table " ~ relation ~ " using parquet location '"
            ~ location | replace("'", "\\'") ~ "/" ~ source.identifier ~ "'") -%}
    {%- endfor -%}
    {{ return('') }}
{% endmacro %}

{#-
    Contract types in the models' YAML are written for DuckDB and PostgreSQL (float8, varchar); Spark has
    other names for them (double, string). dbt builds the contract's "empty schema" query from those
    names, so translate them here; the comparison with the model's own columns then happens in Spark types.
-#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set spark_names = {'float8': 'double', 'double precision': 'double', 'varchar': 'string', 'text': 'string'} -%}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name] -%}
        {%- set data_type = column['data_type'] -%}
        {%- if data_type is string and data_type.strip().lower() in spark_names -%}
            {%- set column = dict(column, data_type=spark_names[data_type.strip().lower()]) -%}
        {%- endif -%}
        {%- do translated.update({name: column}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{% endmacro %}
