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


def _four_accounts():
    return pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "territory_id": ["T1", "T1", "T2", "T3"],
            "revenue_t12m": [100.0, 100.0, 100.0, 100.0],
            "expected_revenue_next_4q": [100.0, 100.0, 100.0, 100.0],
            "potential": [100.0, 300.0, 400.0, 200.0],
        }
    )


EVEN = pd.DataFrame(
    {
        "quarter_start": pd.to_datetime(["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]),
        "revenue": [1.0, 1.0, 1.0, 1.0],
    }
)


def test_top_down_allocates_the_target_by_potential():
    cfg = GoalsConfig(company_target=CompanyTarget(amount=1000.0), method="top_down")
    goals = set_goals(_four_accounts(), EVEN, cfg, date(2026, 1, 1), 1)
    g = goals.account_goals.set_index("account_id")["goal_cents"]
    assert g.to_dict() == {"a": 10000, "b": 30000, "c": 40000, "d": 20000}
    per_t = goals.territory_goals.groupby("territory_id")["goal_cents"].sum().to_dict()
    assert per_t == {"T1": 40000, "T2": 40000, "T3": 20000}


def test_blend_mixes_bottom_up_and_top_down_shares():
    cfg = GoalsConfig(company_target=CompanyTarget(amount=1000.0), method="blend", blend_top_down_weight=0.5)
    goals = set_goals(_four_accounts(), EVEN, cfg, date(2026, 1, 1), 1)
    g = goals.account_goals.set_index("account_id")["goal_cents"]
    # bottom-up shares 0.25 each; top-down 0.1/0.3/0.4/0.2 → blend 0.175/0.275/0.325/0.225
    assert g.to_dict() == {"a": 17500, "b": 27500, "c": 32500, "d": 22500}


def test_growth_cap_redistributes_what_it_removes_and_still_sums_exactly():
    # top-down would give T2 400 on a 100 baseline; a 50 % cap holds it at 150 and the 250 it loses
    # goes to T1 and T3 in proportion to their shares (400:200)
    cfg = GoalsConfig(
        company_target=CompanyTarget(amount=1000.0), method="top_down", max_growth_over_baseline=0.5
    )
    accounts = _four_accounts().assign(revenue_t12m=[300.0, 300.0, 100.0, 300.0])
    goals = set_goals(accounts, EVEN, cfg, date(2026, 1, 1), 1)
    per_t = goals.territory_goals.groupby("territory_id")["goal_cents"].sum()
    assert per_t["T2"] == 15000
    assert per_t.sum() == 100000 == goals.account_goals["goal_cents"].sum()
    assert per_t["T1"] == pytest.approx(40000 + 25000 * 2 / 3, abs=1)
    assert per_t["T3"] == pytest.approx(20000 + 25000 / 3, abs=1)
    assert goals.capped_territories == ["T2"]
    # accounts inside T1 still split T1's goal by potential (1:3)
    g = goals.account_goals.set_index("account_id")["goal_cents"]
    assert g["a"] + g["b"] == per_t["T1"] and abs(g["b"] - 3 * g["a"]) <= 3


def test_caps_that_cannot_hold_the_target_are_a_clear_error():
    cfg = GoalsConfig(company_target=CompanyTarget(amount=1000.0), max_growth_over_baseline=0.1)
    with pytest.raises(GoalError, match="max_growth_over_baseline"):
        set_goals(_four_accounts(), EVEN, cfg, date(2026, 1, 1), 1)


def test_quarterly_run_regoals_only_the_remaining_quarters():
    from planning.goals import GoalsInForce

    cfg = GoalsConfig(company_target=CompanyTarget(amount=1000.0))
    yearly = set_goals(_four_accounts(), EVEN, cfg, date(2026, 1, 1), 1)
    in_force = GoalsInForce(yearly.territory_goals, yearly.company_target_cents)
    # the quarter after: accounts b and d now predict more growth
    later = _four_accounts().assign(expected_revenue_next_4q=[100.0, 500.0, 100.0, 300.0])
    q = set_goals(
        later, EVEN, GoalsConfig(company_target=CompanyTarget(amount=5000.0)), date(2026, 4, 1), 1, in_force
    )
    tg = q.territory_goals
    first = tg[tg["quarter_start"] == date(2026, 1, 1)].set_index("territory_id")["goal_cents"]
    before = yearly.territory_goals[yearly.territory_goals["quarter_start"] == date(2026, 1, 1)]
    assert first.to_dict() == before.set_index("territory_id")["goal_cents"].to_dict()
    assert tg.loc[tg["quarter_start"] == date(2026, 1, 1), "carried"].all()
    assert not tg.loc[tg["quarter_start"] > date(2026, 1, 1), "carried"].any()
    # the year's target is the plan in force's, not the changed config amount
    assert q.company_target_cents == 100000 == tg["goal_cents"].sum()
    assert q.set_cents == 100000 - first.sum() == q.account_goals["goal_cents"].sum()
    assert sorted(tg["quarter_start"].unique()) == [date(2026, m, 1) for m in (1, 4, 7, 10)]
    # the remaining goals follow the new predictions: T3 (d grows) gains against its yearly share
    rest = tg[~tg["carried"]].groupby("territory_id")["goal_cents"].sum()
    assert rest["T3"] / rest.sum() > 0.25
    # a run past the plan year sets a whole new year from config
    nxt = set_goals(later, EVEN, cfg, date(2027, 1, 1), 1, in_force)
    assert not nxt.territory_goals["carried"].any() and nxt.company_target_cents == 100000


def _spans(goals) -> pd.DataFrame:
    """Per territory: the quarters the plan set and the kept elapsed ones, from the quarterly rows and
    from the account goals."""
    tg, ag = goals.territory_goals, goals.account_goals
    return pd.DataFrame(
        {
            "set_quarters": tg[~tg["carried"]].groupby("territory_id")["goal_cents"].sum(),
            "elapsed_quarters": tg[tg["carried"]].groupby("territory_id")["goal_cents"].sum(),
            "set_accounts": ag.groupby("territory_id")["goal_cents"].sum(),
            "elapsed_accounts": ag.groupby("territory_id")["goal_elapsed_cents"].sum(),
        }
    ).fillna(0)


def test_territory_goals_are_traceable_to_account_goals_in_yearly_and_quarterly_plans():
    from planning.goals import GoalsInForce

    rng = np.random.default_rng(11)
    n = 3000
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "territory_id": rng.choice([f"T{i:02d}" for i in range(23)], n),
            "revenue_t12m": rng.gamma(1.1, 7000, n),
            "expected_revenue_next_4q": rng.gamma(1.1, 7700, n),
        }
    )
    seasonal = EVEN.assign(revenue=[1.0, 1.2, 0.9, 1.4])
    cfg = GoalsConfig(company_target=CompanyTarget(amount=12_345_678.91))
    yearly = set_goals(accounts, seasonal, cfg, date(2026, 1, 1), 1)
    spans = _spans(yearly)
    assert (spans["set_quarters"] == spans["set_accounts"]).all()
    assert (spans["elapsed_quarters"] == 0).all() and (yearly.account_goals["goal_elapsed_cents"] == 0).all()
    assert (
        yearly.account_goals["goal_cents"].sum()
        == 1_234_567_891
        == yearly.territory_goals["goal_cents"].sum()
    )

    in_force = GoalsInForce(yearly.territory_goals, yearly.company_target_cents)
    later = accounts.assign(expected_revenue_next_4q=rng.gamma(1.1, 9000, n))
    q3 = set_goals(later, seasonal, cfg, date(2026, 7, 1), 1, in_force)
    spans = _spans(q3)
    # each span of each territory is exactly the sum of its accounts' goals for that span
    assert (spans["set_quarters"] == spans["set_accounts"]).all()
    assert (spans["elapsed_quarters"] == spans["elapsed_accounts"]).all()
    # the elapsed span is Q1 + Q2 as the yearly plan set them, per territory
    kept = yearly.territory_goals[yearly.territory_goals["quarter_start"] < date(2026, 7, 1)]
    assert spans["elapsed_quarters"].to_dict() == kept.groupby("territory_id")["goal_cents"].sum().to_dict()
    ag = q3.account_goals
    assert ag["goal_cents"].sum() == q3.set_cents
    assert ag["goal_cents"].sum() + ag["goal_elapsed_cents"].sum() == 1_234_567_891 == q3.company_target_cents
    assert (ag["goal_elapsed_cents"] >= 0).all() and ag["goal_elapsed_cents"].sum() == kept[
        "goal_cents"
    ].sum()


def test_elapsed_goals_of_a_territory_without_accounts_are_a_clear_error():
    from planning.goals import GoalsInForce

    cfg = GoalsConfig(company_target=CompanyTarget(amount=1000.0))
    yearly = set_goals(_four_accounts(), EVEN, cfg, date(2026, 1, 1), 1)
    in_force = GoalsInForce(yearly.territory_goals, yearly.company_target_cents)
    gone = _four_accounts().assign(territory_id=["T1", "T1", "T2", "T2"])  # T3 has no account left
    with pytest.raises(GoalError, match="T3 have elapsed-quarter goals but no accounts"):
        set_goals(gone, EVEN, cfg, date(2026, 4, 1), 1, in_force)
