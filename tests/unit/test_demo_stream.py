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


def test_landing_the_stream_in_duckdb_equals_the_frames():
    """The ingest path (Arrow stream pulled by DuckDB, one thread) lands exactly the generated lines, in
    order, numbered 1..N, and gives the connection its threads back."""
    import duckdb

    from orchestration.assets.ingest import land_demo_transactions

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "BLOCK_ACCOUNTS", 250)  # four blocks, so order across blocks is tested
        frames = generate_demo(N, seed=3, end_date=END)
        company = DemoCompany(N, seed=3, end_date=END)
        con = duckdb.connect()
        con.execute("set threads = 2")
        con.execute("create schema raw")
        rows = land_demo_transactions(con, company, "demo(test)", pd.Timestamp("2026-01-01"), "run-1", 2)
    landed = con.execute("select * from raw.transactions").to_arrow_table()
    assert con.execute("select current_setting('threads')").fetchone()[0] == 2
    assert rows == len(frames.transactions) == landed.num_rows
    assert landed.column("_row_number").to_pylist() == list(range(1, rows + 1))
    assert set(landed.column("_source").to_pylist()) == {"demo(test)"}
    lines = landed.select(list(demo.TRANSACTION_COLUMNS))
    pd.testing.assert_frame_equal(demo._tx_frame(lines), frames.transactions, check_exact=True)
    pd.testing.assert_frame_equal(company.account_truth(), frames.account_truth, check_exact=True)


def test_prefetched_keeps_order_and_raises_the_producers_error():
    assert list(demo._prefetched(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("block 2 broke")

    got = []
    with pytest.raises(ValueError, match="block 2 broke"):
        for item in demo._prefetched(failing(), depth=2):
            got.append(item)
    assert got == [1]


def test_prefetched_stops_the_producer_when_the_consumer_stops():
    drawn = []

    def endless():
        i = 0
        while True:
            drawn.append(i)
            yield i
            i += 1

    stream = demo._prefetched(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # joins the producer thread; it must not keep drawing
    seen = len(drawn)
    assert seen <= 3 + 2 + 1  # consumed + queue depth + the one waiting to be handed over
    assert len(drawn) == seen


def test_ids_keep_their_format():
    assert demo._format_ids("T", np.array([1, 42, 9_999_999_999]), 10).to_pylist() == [
        "T0000000001",
        "T0000000042",
        "T9999999999",
    ]
    with pytest.raises(ValueError, match="more than 7 digits"):
        demo._format_ids("A", np.array([10_000_000]), 7)
