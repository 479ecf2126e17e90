"""Build the whole dbt project on a 2,000-account demo company (sources.demo) and check it against
the demo's latent truth. One `dbt build` for the module; skipped when the demo generator is absent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import duckdb
import pytest
from dbt_build import run_dbt_build
from make_fixture import land_raw

demo_module = pytest.importorskip("sources.demo")

END_DATE = date(2025, 12, 31)


@pytest.fixture(scope="module")
def demo():
    return demo_module.generate_demo(2000, seed=7, end_date=END_DATE)


@pytest.fixture(scope="module")
def con(demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    work_dir = tmp_path_factory.mktemp("dbt_demo")
    warehouse = work_dir / "warehouse.duckdb"
    land_raw(warehouse, demo.tables())
    started = time.perf_counter()
    run_dbt_build(warehouse, work_dir)
    print(f"\ndbt build on the 2,000-account demo: {time.perf_counter() - started:.1f} s")
    connection = duckdb.connect(str(warehouse))
    yield connection
    connection.close()


def test_as_of_is_the_day_after_the_history(con):
    latest = con.execute("select cutoff_date from intermediate.int_plan_calendar where is_latest").fetchall()
    assert latest == [(date(2026, 1, 1),)]


def test_every_account_has_value_and_behaviour(con, demo):
    n_accounts = len(demo.accounts)
    for mart in ("dim_accounts", "fct_account_value", "fct_buying_behaviour"):
        assert con.execute(f"select count(*) from marts.{mart}").fetchone() == (n_accounts,), mart


def test_revenue_t12m_matches_the_simulated_current_spend(con, demo):
    value = con.execute("select account_id, revenue_t12m from marts.fct_account_value").df()
    joined = value.merge(demo.account_truth, on="account_id", validate="one_to_one")
    assert (joined["revenue_t12m"] - joined["current_spend"]).abs().max() < 0.01


def test_price_seeking_index_tracks_the_latent_price_seeking(con, demo):
    behaviour = con.execute(
        "select account_id, price_seeking_index from marts.fct_buying_behaviour where price_seeking_index is not null"
    ).df()
    joined = behaviour.merge(demo.account_truth, on="account_id")
    assert joined["price_seeking_index"].corr(joined["price_seeking"]) > 0.5


def test_features_are_point_in_time_and_labels_predictable(con):
    early = con.execute(
        "select count(*) from marts.fct_account_features f join marts.dim_accounts a using (account_id) "
        "where a.created_at >= f.cutoff_date"
    ).fetchone()
    assert early == (0,)
    by_cutoff = con.execute(
        "select cutoff_date, corr(revenue_t12m, label_revenue_next_4q) from marts.fct_account_features "
        "where label_observable group by cutoff_date"
    ).fetchall()
    assert len(by_cutoff) == 5
    assert all(c > 0.8 for _, c in by_cutoff)
