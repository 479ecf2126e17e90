{#-
    One row per feature cut-off (a quarter start). The plan's as-of date is the var as_of_date, or
    else the first day of the quarter after the quarter of the latest order. Cut-offs run from the
    first quarter with data + 4 quarters (so every cut-off has a full trailing year behind it) up to
    and including the as-of date. The plan sees no data on or after as_of_date, so a label (the
    4 quarters from the cut-off) is observable only when those quarters end by the as-of date and by
    the end of the last quarter with data. Quarters come from a cross-join of digits (no
    generate_series: not portable to Spark); 1000 quarters is far more than any history.
-#}
{%- set as_of_var = as_of_date_var() -%}

with

account_quarters as (

    select * from {{ ref('int_account_quarters') }}

),

data_bounds as (

    select
        min(quarter_start) as data_first_quarter_start,
        max(quarter_start) as data_last_quarter_start

    from account_quarters

),

plan_bounds as (

    select
        data_first_quarter_start,
        data_last_quarter_start,
        {% if as_of_var is not none -%}
        {{ as_of_var }}
        {%- else -%}
        {{ add_quarters('data_last_quarter_start', 1) }}
        {%- endif %} as as_of_date

    from data_bounds

),

bounds as (

    select
        data_first_quarter_start,
        data_last_quarter_start,
        as_of_date,
        least({{ add_quarters('data_first_quarter_start', 4) }}, as_of_date) as first_cutoff_date

    from plan_bounds

),

bounds_indexed as (

    select
        *,
        {{ quarter_index('first_cutoff_date') }} as first_cutoff_quarter_index,
        {{ quarter_index('as_of_date') }} as as_of_quarter_index,
        {{ quarter_index('data_last_quarter_start') }} as data_last_quarter_index

    from bounds

),

{{ quarter_offsets_ctes() }}

cutoffs as (

    select
        {{ add_quarters('bounds_indexed.first_cutoff_date', 'offsets.quarter_offset') }} as cutoff_date,
        bounds_indexed.first_cutoff_quarter_index + offsets.quarter_offset as cutoff_quarter_index,
        bounds_indexed.as_of_date,
        bounds_indexed.as_of_quarter_index,
        bounds_indexed.data_first_quarter_start,
        bounds_indexed.data_last_quarter_start,
        bounds_indexed.data_last_quarter_index

    from bounds_indexed
    inner join offsets
        on offsets.quarter_offset <= bounds_indexed.as_of_quarter_index - bounds_indexed.first_cutoff_quarter_index

),

final as (

    select
        cutoff_date,
        cast(cutoff_quarter_index as integer) as cutoff_quarter_index,
        as_of_date,
        cutoff_quarter_index = as_of_quarter_index as is_latest,
        (
            data_last_quarter_index is not null
            and cutoff_quarter_index + 4 <= as_of_quarter_index
            and cutoff_quarter_index + 4 <= data_last_quarter_index + 1
        ) as label_observable,
        {{ add_quarters('cutoff_date', -4) }} as t12m_start_date,
        {{ add_quarters('cutoff_date', 4) }} as label_end_date,
        data_first_quarter_start,
        data_last_quarter_start

    from cutoffs

)

select * from final
