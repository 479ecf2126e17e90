{#-
    Distinct products and product categories bought (lines with quantity > 0) in each cut-off's
    trailing 12 months, per account: one row per account x cut-off with at least one purchase in it.

    Each (account, product) pair gets a bit per quarter it was bought in, in assortment_words() bigint words of
    60 quarters each, counted from 4 quarters before the first cut-off (one hash aggregate over the lines,
    bit_or). A cut-off's trailing 12 months is 4 bits; the pair counts there when any of them is set.
    Pairs with the same bits are counted together, so the test against each cut-off runs over the
    account's distinct purchase patterns, not over every product. Categories the same way. This replaced
    an account x quarter x product table (about as many rows as the lines) and a lag over it per
    product and per category: 89 of the 167 s of the whole build at 66M lines.

    power(2, n) is exact in a double for n < 60 and portable (no shift operator on Spark before 4.0).
    The calendar's test `cutoffs_fit_the_assortment_words` refuses a span of cut-offs the words cannot hold.
-#}
{%- set words = assortment_words() -%}
{%- set items = [('products', 'product_id'), ('categories', 'product_category')] -%}

with

calendar as (

    select * from {{ ref('int_plan_calendar') }}

),

bounds as (

    select min(cutoff_quarter_index) - 4 as base_quarter_index
    from calendar

),

purchases as (

    select
        transactions.account_id,
        transactions.product_id,
        transactions.product_category,
        {{ quarter_index('transactions.order_date') }} - bounds.base_quarter_index as quarter_offset

    from {{ ref('stg_erp__transactions') }} as transactions
    cross join bounds
    where transactions.quantity > 0

),

{#- bits of the quarters each product was bought in; quarters outside every window are left out -#}
product_bits as (

    select
        account_id,
        product_id,
        product_category,
        {%- for w in range(words) %}
        bit_or(
            case when quarter_offset >= {{ 60 * w }} and quarter_offset < {{ 60 * (w + 1) }}
                then cast(power(2, quarter_offset - {{ 60 * w }}) as bigint) else cast(0 as bigint) end
        ) as bits_{{ w }}{{ "," if not loop.last }}
        {%- endfor %}

    from purchases
    where quarter_offset >= 0 and quarter_offset < {{ 60 * words }}
    group by account_id, product_id, product_category

),

{#- per item (a product filed under two categories is still one product): its bits, then how many
    of the account's items share each bit pattern -#}
{%- for item, key in items %}
{{ item }} as (

    select
        account_id,
        {%- for w in range(words) %}
        bit_or(bits_{{ w }}) as bits_{{ w }}{{ "," if not loop.last }}
        {%- endfor %}

    from product_bits
    group by account_id, {{ key }}

),

{{ item }}_patterns as (

    select account_id, {% for w in range(words) %}bits_{{ w }}, {% endfor %}count(*) as n_items
    from {{ item }}
    group by account_id{% for w in range(words) %}, bits_{{ w }}{% endfor %}

),
{% endfor %}

{#- each cut-off's trailing 12 months (quarter offsets s .. s + 3) as bits in the same words -#}
cutoff_windows as (

    select
        calendar.cutoff_date,
        {%- for w in range(words) %}
        (
            {%- for j in range(4) %}
            case when calendar.cutoff_quarter_index - 4 - bounds.base_quarter_index + {{ j }} >= {{ 60 * w }}
                    and calendar.cutoff_quarter_index - 4 - bounds.base_quarter_index + {{ j }} < {{ 60 * (w + 1) }}
                then cast(power(2, calendar.cutoff_quarter_index - 4 - bounds.base_quarter_index + {{ j }} - {{ 60 * w }}) as bigint)
                else cast(0 as bigint) end{{ " +" if not loop.last }}
            {%- endfor %}
        ) as window_{{ w }}{{ "," if not loop.last }}
        {%- endfor %}

    from calendar
    cross join bounds

),

{%- for item, key in items %}
{{ item }}_counts as (

    select {{ item }}_patterns.account_id, cutoff_windows.cutoff_date, sum({{ item }}_patterns.n_items) as n_{{ item }}_t12m
    from {{ item }}_patterns
    inner join cutoff_windows
        on ({% for w in range(words) %}({{ item }}_patterns.bits_{{ w }} & cutoff_windows.window_{{ w }}){{ " | " if not loop.last }}{% endfor %}) <> 0
    group by {{ item }}_patterns.account_id, cutoff_windows.cutoff_date

),
{% endfor %}

final as (

    {#- a window with a purchase has a product and a category (NULL ids count as one, as before) -#}
    select
        products_counts.account_id,
        products_counts.cutoff_date,
        cast(products_counts.n_products_t12m as bigint) as n_products_t12m,
        cast(categories_counts.n_categories_t12m as bigint) as n_categories_t12m

    from products_counts
    inner join categories_counts
        on products_counts.account_id = categories_counts.account_id
        and products_counts.cutoff_date = categories_counts.cutoff_date

)

select * from final
