"""Territory goals: bottom-up from accounts, scaled to the company target, phased by quarter.

Goals are computed in integer cents and rounded by largest remainder, so account goals sum exactly to
the company target, each territory's goal is exactly the sum of its accounts' goals, and its quarterly
goals sum exactly to its yearly goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from planning.config import GoalsConfig


class GoalError(ValueError):
    """Goals cannot be set (no baseline to scale, a non-positive target...)."""


@dataclass(frozen=True)
class Goals:
    account_goals: pd.DataFrame  # account_id, territory_id, baseline, bottom_up, goal_cents
    territory_goals: pd.DataFrame  # quarter_start, fiscal_year, fiscal_quarter, territory_id, goal_cents
    company_target_cents: int
    seasonality: list[float]  # share of the year per fiscal quarter, FQ1..FQ4


def largest_remainder(amounts: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to `amounts` summing exactly to `total` (ties go to the earlier item)."""
    amounts = np.asarray(amounts, dtype=float)
    s = amounts.sum()
    if s <= 0:
        raise GoalError("cannot allocate a total over amounts that sum to zero")
    exact = amounts * (total / s)
    base = np.floor(exact).astype(np.int64)
    short = int(total - base.sum())
    if short:
        order = np.lexsort((np.arange(len(exact)), -(exact - base)))
        base[order[:short]] += 1
    return base


def plan_quarters(plan_start: date, fiscal_year_start_month: int) -> pd.DataFrame:
    """The four quarters from `plan_start`: quarter_start, fiscal_year and fiscal_quarter (1..4).

    A fiscal year is named by the calendar year it ends in (start month 2: Feb 2026–Jan 2027 is FY2027).
    """
    starts = pd.DatetimeIndex([pd.Timestamp(plan_start) + pd.DateOffset(months=3 * q) for q in range(4)])
    shifted = starts.month >= fiscal_year_start_month
    fiscal_year = starts.year + (shifted & (fiscal_year_start_month > 1)).astype(int)
    fiscal_quarter = ((starts.month - fiscal_year_start_month) % 12) // 3 + 1
    return pd.DataFrame(
        {"quarter_start": starts.date, "fiscal_year": fiscal_year, "fiscal_quarter": fiscal_quarter}
    )


def seasonality_shares(quarterly_revenue: pd.DataFrame, fiscal_year_start_month: int) -> list[float]:
    """Share of yearly revenue in each fiscal quarter, averaged over the history's quarters.

    `quarterly_revenue`: quarter_start, revenue (company or any level; summed here). A fiscal quarter
    missing from the history gets the average share, so phasing never drops a quarter.
    """
    q = quarterly_revenue.groupby("quarter_start", as_index=False)["revenue"].sum()
    month = pd.to_datetime(q["quarter_start"]).dt.month
    q["fiscal_quarter"] = ((month - fiscal_year_start_month) % 12) // 3 + 1
    mean_by_fq = q.groupby("fiscal_quarter")["revenue"].mean().reindex([1, 2, 3, 4])
    mean_by_fq = mean_by_fq.fillna(mean_by_fq.mean()).clip(lower=0)
    if not np.isfinite(mean_by_fq).all() or mean_by_fq.sum() <= 0:
        return [0.25, 0.25, 0.25, 0.25]
    return (mean_by_fq / mean_by_fq.sum()).round(10).tolist()


def set_goals(
    accounts: pd.DataFrame,
    quarterly_revenue: pd.DataFrame,
    cfg: GoalsConfig,
    plan_start: date,
    fiscal_year_start_month: int,
) -> Goals:
    """Bottom-up account goals scaled to the company target, summed to territories, phased by quarter.

    `accounts`: account_id, territory_id, revenue_t12m (baseline run-rate) and expected_revenue_next_4q.
    bottom-up = max(baseline + growth_share × (expected − baseline), 0); the company target is
    `amount` or baseline total × (1 + growth_over_baseline).
    """
    baseline = accounts["revenue_t12m"].to_numpy(dtype=float).clip(min=0)
    expected = accounts["expected_revenue_next_4q"].to_numpy(dtype=float).clip(min=0)
    bottom_up = (baseline + cfg.growth_share * (expected - baseline)).clip(min=0)
    target = cfg.company_target.amount or baseline.sum() * (1 + cfg.company_target.growth_over_baseline)
    target_cents = int(round(target * 100))
    if target_cents <= 0:
        raise GoalError(
            "company target is zero: the accounts have no trailing revenue; set goals.company_target.amount in config/plan.yaml"
        )
    if bottom_up.sum() <= 0:
        raise GoalError("no account has a baseline or predicted revenue to spread the company target over")
    account_goals = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy(),
            "territory_id": accounts["territory_id"].to_numpy(),
            "baseline": baseline,
            "bottom_up": bottom_up,
            "goal_cents": largest_remainder(bottom_up, target_cents),
        }
    )

    shares = seasonality_shares(quarterly_revenue, fiscal_year_start_month)
    quarters = plan_quarters(plan_start, fiscal_year_start_month)
    weights = np.array([shares[fq - 1] for fq in quarters["fiscal_quarter"]])
    yearly = account_goals.groupby("territory_id", sort=True)["goal_cents"].sum()
    rows = []
    for territory_id, cents in yearly.items():  # one small allocation per territory, not per account
        per_q = largest_remainder(weights, int(cents)) if cents > 0 else np.zeros(4, dtype=np.int64)
        rows.append(quarters.assign(territory_id=territory_id, goal_cents=per_q))
    territory_goals = pd.concat(rows, ignore_index=True)
    return Goals(account_goals, territory_goals, target_cents, shares)
