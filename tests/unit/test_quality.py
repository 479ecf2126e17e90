"""The transactions suite on a good and a bad fixture (great-expectations runs for real)."""

import pandas as pd
import pytest

from data_quality.runner import run_suite
from data_quality.suites import transactions_suite


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": ["T1", "T2", "T3"],
            "order_id": ["O1", "O1", "O2"],
            "account_id": ["A1", "A1", "A2"],
            "site_id": ["A1-S1", "A1-S1", "A2-S1"],
            "order_date": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-02-01"]),
            "product_id": ["P1", "P2", "P1"],
            "product_category": ["fasteners", "tools", "fasteners"],
            "quantity": [10.0, -1.0, 3.0],
            "unit_price": [2.5, 40.0, 2.5],
            "unit_cost": [1.5, 25.0, 1.5],
            "discount": [0.0, 0.1, 0.05],
            "channel": ["web", "field", "rfp"],
        }
    )


@pytest.fixture(scope="module")
def good_result():
    return run_suite(_good(), transactions_suite())


def test_good_fixture_passes(good_result):
    assert good_result.success and good_result.failed == 0
    assert good_result.evaluated == len(transactions_suite().expectations)


def test_bad_fixture_names_each_failure_with_values():
    bad = _good()
    bad.loc[1, "transaction_id"] = "T1"  # duplicate key
    bad.loc[2, "discount"] = 1.7  # impossible discount
    bad.loc[0, "channel"] = "carrier pigeon"
    res = run_suite(bad, transactions_suite())
    assert not res.success
    found = {(f["expectation"], f["column"]) for f in res.failures}
    assert ("expect_column_values_to_be_unique", "transaction_id") in found
    assert ("expect_column_values_to_be_between", "discount") in found
    assert ("expect_column_values_to_be_in_set", "channel") in found
    assert res.failed == 3
    channel = next(f for f in res.failures if f["column"] == "channel")
    assert channel["unexpected_count"] == 1 and channel["examples"] == ["carrier pigeon"]


def test_missing_column_fails_without_running_gx():
    res = run_suite(_good().drop(columns=["channel"]), transactions_suite())
    assert not res.success and res.failures[0]["column"] == "channel"
