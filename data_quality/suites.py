"""Expectation suites as code: plain data, so defining them costs nothing and GE loads only to run them.

Each expectation is (great_expectations expectation class name, its keyword arguments).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHANNELS = ["field", "phone", "web", "edi", "rfp"]


@dataclass(frozen=True)
class Suite:
    name: str
    entity: str
    expectations: list[tuple[str, dict]] = field(default_factory=list)


def transactions_suite() -> Suite:
    """Raw order lines: keys present and unique, sane quantities, prices, discounts and channels."""
    return Suite(
        name="raw_transactions",
        entity="transactions",
        expectations=[
            ("ExpectColumnValuesToNotBeNull", {"column": "transaction_id"}),
            ("ExpectColumnValuesToBeUnique", {"column": "transaction_id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "account_id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "order_date"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "quantity"}),
            (
                "ExpectColumnValuesToBeBetween",
                {"column": "unit_price", "min_value": 0},
            ),
            (
                "ExpectColumnValuesToBeBetween",
                {"column": "unit_cost", "min_value": 0},
            ),
            ("ExpectColumnValuesToBeBetween", {"column": "discount", "min_value": 0, "max_value": 1}),
            ("ExpectColumnValuesToBeInSet", {"column": "channel", "value_set": CHANNELS}),
            ("ExpectColumnValuesToNotBeNull", {"column": "product_category"}),
        ],
    )


SUITES = {"transactions": transactions_suite}
