"""The growth model against the demo's latent truth: build the warehouse exactly as the pipeline does
(demo raw tables → one `dbt build`), train with the growth asset's inputs, score the as-of cut-off and
compare with `account_truth`, which the model never sees.

"True potential" is the truth `wallet` (what the account could buy a year from firmographics, not what it
buys from us): the model's `potential` must rank accounts by it far better than the run-rate baseline,
which ranks them by current spend. Headroom is checked against truth headroom (wallet − current spend),
and expected revenue against truth revenue_next_4q (the simulated, never emitted next year).
"""

from __future__ import annotations

import os
import time
from datetime import date

import duckdb
import pytest
from dbt_build import run_dbt_build
from make_fixture import land_raw
from scipy.stats import spearmanr

os.environ.setdefault("OMP_NUM_THREADS", "1")

demo_module = pytest.importorskip("sources.demo")

N_ACCOUNTS = 3000
END_DATE = date(2025, 12, 31)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory):
    from ml.growth import read_features, train_and_score
    from ml.stage import FEATURES_SQL, stage_sql
    from planning.config import load_config

    demo = demo_module.generate_demo(N_ACCOUNTS, seed=11, end_date=END_DATE)
    work_dir = tmp_path_factory.mktemp("growth_truth")
    warehouse = work_dir / "warehouse.duckdb"
    land_raw(warehouse, demo.tables())
    run_dbt_build(warehouse, work_dir)
    with duckdb.connect(str(warehouse)) as con:  # dbt ran in-process with a read-write connection
        features = read_features(con, stage_sql(FEATURES_SQL, con, None))
        history_start = con.execute(
            "select min(data_first_quarter_start) from intermediate.int_plan_calendar"
        ).fetchall()[0][0]
    cfg = load_config()
    started = time.perf_counter()
    result = train_and_score(features, cfg.growth_model, seed=cfg.seed, history_start=history_start)
    print(f"\ntrain_and_score on {N_ACCOUNTS:,} demo accounts: {time.perf_counter() - started:.1f} s")
    truth = demo.account_truth.rename(columns=lambda c: c if c == "account_id" else f"true_{c}")
    return result.scores.merge(truth, on="account_id", validate="one_to_one"), result


def rho(a, b) -> float:
    return float(spearmanr(a, b).statistic)


def test_potential_ranks_accounts_by_true_wallet_far_better_than_run_rate(scored) -> None:
    joined, _ = scored
    model = rho(joined["potential"], joined["true_wallet"])
    baseline = rho(joined["revenue_t12m"], joined["true_wallet"])
    print(f"Spearman with true wallet: potential {model:.3f}, run-rate {baseline:.3f}")
    # threshold kept from the measured figures (3,000 accounts: ~0.92 vs ~0.75; 20,000: 0.927 vs 0.753;
    # with contacts kept out of training: 0.923 vs 0.772 on 3,000, 0.919 vs 0.765 on the 4-year small demo)
    assert model >= 0.90
    assert model >= baseline + 0.10


def test_headroom_ranks_with_true_headroom(scored) -> None:
    joined, _ = scored
    model = rho(joined["headroom"], joined["true_headroom"])
    print(f"Spearman headroom vs true headroom: {model:.3f}")
    assert model >= 0.55  # measured ~0.66 on the default demo; run-rate has no headroom at all


def test_expected_revenue_beats_run_rate_on_the_true_next_year(scored) -> None:
    from ml.growth import evaluate

    joined, _ = scored
    model = evaluate(joined["expected_revenue_next_4q"].to_numpy(), joined["true_revenue_next_4q"].to_numpy())
    base = evaluate(joined["revenue_t12m"].to_numpy(), joined["true_revenue_next_4q"].to_numpy())
    print(
        f"next 4 quarters: model Spearman {model['spearman']:.4f} MAE {model['mae']:,.0f}; run-rate {base['spearman']:.4f} MAE {base['mae']:,.0f}"
    )
    assert model["spearman"] > base["spearman"]
    assert model["mae"] <= 0.92 * base["mae"]
    assert abs(model["bias"]) < 0.05
