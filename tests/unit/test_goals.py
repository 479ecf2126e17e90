from datetime import date

import numpy as np
import pandas as pd
import pytest

from planning.config import CompanyTarget, GoalsConfig
from planning.goals import GoalError, largest_remainder, plan_quarters, seasonality_shares, set_goals


def test_largest_remainder_sums_exactly_and_is_proportional():
    out = largest_remainder(np.array([1.0, 1.0, 1.0]), 100)
    assert out.sum() == 100 and sorted(out.tolist()) == [33, 33, 34]
    out = largest_remainder(np.array([0.5, 0.25, 0.25]), 1001)
    assert out.tolist() == [501, 250, 250]


def test_seasonality_from_fiscal_quarters():
    q = pd.DataFrame(
        {
            "quarter_start": pd.to_datetime(["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]),
            "revenue": [10.0, 20.0, 30.0, 40.0],
        }
    )
    assert seasonality_shares(q, 1) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    # fiscal year starting in April: FQ1 is April
    assert seasonality_shares(q, 4) == pytest.approx([0.2, 0.3, 0.4, 0.1])


def test_plan_quarters_fiscal_labels():
    q = plan_quarters(date(2026, 10, 1), 2)
    assert q["quarter_start"].tolist() == [
        date(2026, 10, 1),
        date(2027, 1, 1),
        date(2027, 4, 1),
        date(2027, 7, 1),
    ]
    assert q["fiscal_year"].tolist() == [2027, 2027, 2028, 2028]
    assert q["fiscal_quarter"].tolist() == [3, 4, 1, 2]


def test_goals_sum_exactly_to_target_at_every_level():
    rng = np.random.default_rng(3)
    n = 5000
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "territory_id": rng.choice([f"T{i}" for i in range(37)], n),
            "revenue_t12m": rng.gamma(1.2, 9000, n),
            "expected_revenue_next_4q": rng.gamma(1.2, 9500, n),
        }
    )
    q = pd.DataFrame(
        {
            "quarter_start": pd.to_datetime(["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]),
            "revenue": [1.0, 1.1, 0.9, 1.3],
        }
    )
    goals = set_goals(accounts, q, GoalsConfig(), date(2026, 10, 1), 1)
    target = int(round(accounts["revenue_t12m"].sum() * 1.08 * 100))
    assert goals.company_target_cents == target
    assert goals.account_goals["goal_cents"].sum() == target
    assert goals.territory_goals["goal_cents"].sum() == target
    per_terr_q = goals.territory_goals.groupby("territory_id")["goal_cents"].sum()
    per_terr_a = goals.account_goals.groupby("territory_id")["goal_cents"].sum()
    pd.testing.assert_series_equal(per_terr_q, per_terr_a)
    assert (goals.territory_goals.groupby("territory_id").size() == 4).all()


def test_bottom_up_follows_predicted_growth_and_amount_target():
    accounts = pd.DataFrame(
        {
            "account_id": ["a", "b"],
            "territory_id": ["T1", "T2"],
            "revenue_t12m": [100.0, 100.0],
            "expected_revenue_next_4q": [300.0, 100.0],
        }
    )
    q = pd.DataFrame({"quarter_start": pd.to_datetime(["2025-01-01"]), "revenue": [1.0]})
    cfg = GoalsConfig(company_target=CompanyTarget(amount=3000.0), growth_share=0.5)
    goals = set_goals(accounts, q, cfg, date(2026, 1, 1), 1)
    g = goals.account_goals.set_index("account_id")["goal_cents"]
    # bottom-up 200 vs 100 → two thirds and one third of 3,000.00
    assert g["a"] == 200000 and g["b"] == 100000
    # a single quarter of history: the other quarters take its average share → even phasing
    assert goals.seasonality == pytest.approx([0.25] * 4)


def test_zero_baseline_is_a_clear_error():
    accounts = pd.DataFrame(
        {
            "account_id": ["a"],
            "territory_id": ["T1"],
            "revenue_t12m": [0.0],
            "expected_revenue_next_4q": [0.0],
        }
    )
    with pytest.raises(GoalError, match="company_target.amount"):
        set_goals(
            accounts, pd.DataFrame({"quarter_start": [], "revenue": []}), GoalsConfig(), date(2026, 1, 1), 1
        )
