{#- int_account_assortment holds each purchase quarter from 4 quarters before the first cut-off as a bit
    in assortment_words() words of 60 quarters: a longer span of cut-offs would lose purchases. Fails
    with the quarters needed; the fix is a larger assortment_words() in macros/portable.sql. -#}
select
    max(cutoff_quarter_index) - min(cutoff_quarter_index) + 4 as quarters_needed,
    {{ 60 * assortment_words() }} as quarters_held

from {{ ref('int_plan_calendar') }}
having max(cutoff_quarter_index) - min(cutoff_quarter_index) + 4 > {{ 60 * assortment_words() }}
