"""The demo's order lines generated block by block: streamed to Parquet they equal the in-memory frames,
keys stay unique across blocks, and the truth still matches the emitted lines."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sources import demo
from sources.demo import DemoCompany, generate_demo

END = date(2024, 12, 31)
N = 1_000


@pytest.fixture(scope="module")
def blocks_of_250():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "BLOCK_ACCOUNTS", 250)
        yield generate_demo(N, seed=3, end_date=END)


def test_parquet_stream_equals_the_frames(tmp_path):
    frames = generate_demo(N, seed=3, end_date=END)
    company = DemoCompany(N, seed=3, end_date=END)
    rows = company.write_transactions(tmp_path / "tx.parquet")
    streamed = pq.read_table(tmp_path / "tx.parquet")
    assert rows == len(frames.transactions) == streamed.num_rows
    assert str(streamed.schema.field("order_date").type) == "date32[day]"
    pd.testing.assert_frame_equal(demo._tx_frame(streamed), frames.transactions, check_exact=True)
    pd.testing.assert_frame_equal(company.account_truth(), frames.account_truth, check_exact=True)


def test_truth_needs_the_order_lines_first():
    with pytest.raises(RuntimeError, match="transaction_tables"):
        DemoCompany(50, seed=1, end_date=END).account_truth()


def test_keys_unique_across_blocks(blocks_of_250):
    tx = blocks_of_250.transactions
    assert tx["transaction_id"].is_unique
    assert tx["transaction_id"].iloc[0] == "T0000000001"
    assert tx["transaction_id"].iloc[-1] == f"T{len(tx):010d}"
    # every order belongs to one account and date; a return is its own credit order
    per_order = tx.groupby("order_id").agg(accounts=("account_id", "nunique"), days=("order_date", "nunique"))
    assert (per_order["accounts"] == 1).all() and (per_order["days"] == 1).all()
    returns = tx[tx["quantity"] < 0]
    assert (tx[tx["order_id"].isin(returns["order_id"])]["quantity"] < 0).all()
    assert tx["account_id"].is_monotonic_increasing  # blocks come in account order


def test_blocks_keep_the_company_shape(blocks_of_250):
    one_block = generate_demo(N, seed=3, end_date=END)
    ratio = len(blocks_of_250.transactions) / len(one_block.transactions)
    assert 0.97 < ratio < 1.03  # line intensity is calibrated on all accounts, not per block
    pd.testing.assert_frame_equal(blocks_of_250.accounts, one_block.accounts)  # only the lines are blocked
    tx = blocks_of_250.transactions
    last_year = tx["order_date"] > pd.Timestamp(END) - pd.DateOffset(years=1)
    net = tx["quantity"] * tx["unit_price"] * (1.0 - tx["discount"])
    t12m = net[last_year].groupby(tx.loc[last_year, "account_id"]).sum()
    truth = blocks_of_250.account_truth.set_index("account_id")
    np.testing.assert_allclose(truth["current_spend"], t12m.reindex(truth.index, fill_value=0.0), atol=0.02)
