{#-
    Plan-level settings read from dbt vars, validated at compile time so that a bad value fails
    with a message that names the var and the fix.
-#}

{#- The as_of_date var as a SQL date expression, or none when unset (then derived from the data). -#}
{% macro as_of_date_var() -%}
    {%- set raw = var('as_of_date', none) -%}
    {%- if raw is none or (raw | string | trim) in ('', 'none', 'None', 'null') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = raw | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-(01|04|07|10)-01$', text) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var as_of_date=" ~ text ~ " is not a quarter start: plan cut-offs are quarter starts, "
            ~ "so pass 'YYYY-01-01', 'YYYY-04-01', 'YYYY-07-01' or 'YYYY-10-01' (or leave it unset to "
            ~ "use the first day of the quarter after the latest order_date).") }}
    {%- endif -%}
    {{ return("cast('" ~ text ~ "' as date)") }}
{%- endmacro %}

{#- Size buckets from the size_bucket_thresholds var: a list of (label, lower bound), descending. -#}
{% macro size_buckets() -%}
    {%- set thresholds = var('size_bucket_thresholds') -%}
    {%- if thresholds is string or thresholds | length == 0 -%}
        {{ exceptions.raise_compiler_error("dbt var size_bucket_thresholds must be a non-empty list of numbers, e.g. [50000, 35000, 25000, 15000, 5000]; got " ~ thresholds) }}
    {%- endif -%}
    {%- set ns = namespace(previous=none, buckets=[]) -%}
    {%- for t in thresholds -%}
        {%- if t is not number or t <= 0 or (ns.previous is not none and t >= ns.previous) -%}
            {{ exceptions.raise_compiler_error("dbt var size_bucket_thresholds must be positive numbers in descending order, e.g. [50000, 35000, 25000, 15000, 5000]; got " ~ thresholds) }}
        {%- endif -%}
        {%- set ns.previous = t -%}
    {%- endfor -%}
    {%- for t in thresholds -%}
        {%- set label = ('<' if not loop.first else '>=') ~ size_bucket_amount(thresholds[loop.index0 - 1] if not loop.first else t) -%}
        {%- do ns.buckets.append((label, t)) -%}
    {%- endfor -%}
    {%- do ns.buckets.append(('<' ~ size_bucket_amount(thresholds[-1]), 0)) -%}
    {{ return(ns.buckets) }}
{%- endmacro %}

{#- 50000 -> '50K', 2500 -> '2.5K', 1000000 -> '1M', 750 -> '750'. -#}
{% macro size_bucket_amount(amount) -%}
    {%- if amount >= 1000000 and amount % 100000 == 0 -%}
        {{ return(((amount / 1000000) | string).replace('.0', '') ~ 'M') }}
    {%- elif amount >= 1000 and amount % 100 == 0 -%}
        {{ return(((amount / 1000) | string).replace('.0', '') ~ 'K') }}
    {%- else -%}
        {{ return(amount | string) }}
    {%- endif -%}
{%- endmacro %}

{#- All size-bucket labels incl. 'blank' (for accepted_values tests and documentation). -#}
{% macro size_bucket_labels() -%}
    {%- set labels = [] -%}
    {%- for label, lower in size_buckets() -%}{%- do labels.append(label) -%}{%- endfor -%}
    {%- do labels.append('blank') -%}
    {{ return(labels) }}
{%- endmacro %}

{#- CASE expression mapping a t12m revenue column to its size bucket. -#}
{% macro size_bucket_case(revenue_column) -%}
    case
    {%- for label, lower in size_buckets() %}
        when {{ revenue_column }} >= {{ lower }}{% if lower == 0 %} and {{ revenue_column }} > 0{% endif %} then '{{ label }}'
    {%- endfor %}
        else 'blank'
    end
{%- endmacro %}

{#- CLV multiplier (1 + d) / (1 + d - r): expected discounted lifetime in years, incl. the current year. -#}
{% macro clv_lifetime_multiplier() -%}
    {%- set r = var('clv_retention_rate') | float -%}
    {%- set d = var('clv_discount_rate') | float -%}
    {%- if r < 0 or r >= 1 or d < 0 -%}
        {{ exceptions.raise_compiler_error("dbt vars clv_retention_rate must be in [0, 1) and clv_discount_rate >= 0; got " ~ r ~ " and " ~ d) }}
    {%- endif -%}
    {{ return((1 + d) / (1 + d - r)) }}
{%- endmacro %}
