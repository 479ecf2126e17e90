{#-
    Fails for every row whose column lies outside [min_value, max_value] (bounds optional,
    inclusive; NULL values pass, test them with not_null).
-#}
{% test value_between(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }} as value_out_of_range
from {{ model }}
where
    {%- if min_value is none and max_value is none %} false
    {%- else %}
    {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% endif %}
    {%- if min_value is not none and max_value is not none %} or{% endif %}
    {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% endif %}
    {%- endif %}

{% endtest %}
