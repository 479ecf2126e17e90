{#- Portable SQL helpers (DuckDB, PostgreSQL, Spark): quarter arithmetic without integer division or engine-only functions, day differences, safe ratios. -#}

{#- First day of the quarter containing a date, as a DATE. -#}
{% macro quarter_start(date_expr) -%}
    cast({{ dbt.date_trunc('quarter', date_expr) }} as date)
{%- endmacro %}

{#- Consecutive quarter number (year * 4 + quarter - 1), so windows are integer ranges. -#}
{% macro quarter_index(date_expr) -%}
    (cast(extract(year from {{ date_expr }}) as integer) * 4 + cast(extract(quarter from {{ date_expr }}) as integer) - 1)
{%- endmacro %}

{#- A date moved by a number of quarters (an integer SQL expression), as a DATE. -#}
{% macro add_quarters(date_expr, n_quarters_expr) -%}
    cast({{ dbt.dateadd('month', '(' ~ n_quarters_expr ~ ') * 3', date_expr) }} as date)
{%- endmacro %}

{#- Whole days from start_date to end_date, as an integer. -#}
{% macro days_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'day') }} as integer)
{%- endmacro %}

{#- a / b as a double, or `otherwise` when b is 0 or null (integer division differs across engines). -#}
{% macro safe_divide(numerator, denominator, otherwise='null') -%}
    case when {{ denominator }} is null or {{ denominator }} = 0 then {{ otherwise }}
         else cast({{ numerator }} as {{ type_double() }}) / cast({{ denominator }} as {{ type_double() }}) end
{%- endmacro %}

{#-
    numerator / denominator as a share clipped to [0, 1], or 0 when the denominator is not positive.
    Clipping absorbs float rounding (sums of parts can exceed the sum of the whole by 1 ulp).
-#}
{% macro share_of(numerator, denominator) -%}
    case when {{ denominator }} > 0
        then least(greatest(
            cast({{ numerator }} as {{ type_double() }}) / cast({{ denominator }} as {{ type_double() }}),
            cast(0 as {{ type_double() }})), cast(1 as {{ type_double() }}))
        else cast(0 as {{ type_double() }}) end
{%- endmacro %}

{#- The CTEs `digits` and `offsets` (quarter_offset 0..999: 250 years of quarters), followed by a comma,
    for models that walk quarter by quarter from a start. Portable: no generate_series on Spark. -#}
{% macro quarter_offsets_ctes() -%}
digits as (

    select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9

),

offsets as (

    select ones.digit + 10 * tens.digit + 100 * hundreds.digit as quarter_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds

),
{%- endmacro %}

{#- 60-quarter bigint words of int_account_assortment's purchase bits: 4 hold cut-offs spanning 59 years
    (the calendar's test cutoffs_fit_the_assortment_words refuses more). -#}
{% macro assortment_words() -%}
    {{ return(4) }}
{%- endmacro %}
