"""Territory goals: the company target spread over territories and accounts, phased by quarter.

Three methods (config `goals.method`): bottom-up (run-rate plus a share of predicted growth per
account), top-down (the target allocated by each account's potential) and a blend of the two. A cap
(`goals.max_growth_over_baseline`) limits any territory's goal to its baseline times (1 + cap); what a
cap removes goes to the uncapped territories. Goals are computed in integer cents and rounded by
largest remainder, so account goals sum exactly to the target, each territory's goal is exactly the sum
of its accounts' goals, and its quarterly goals sum exactly to its yearly goal.

A quarterly run re-goals only the remaining quarters of the plan year: quarters before its as-of date
keep the goals of the plan that set them, and the rest of the year's target is spread anew. The two
spans stay separate and traceable at every level: an account's `goal_cents` is what this plan sets
(the remaining quarters; the whole year in a yearly plan) and its `goal_elapsed_cents` its share of
its territory's kept elapsed-quarter goals (split by the same account weights); per territory each
span sums exactly to its accounts, and both spans together sum exactly to the company target.
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
    # account_id, territory_id, baseline, bottom_up, weight, goal_cents (the quarters this plan sets),
    # goal_elapsed_cents (its share of the kept elapsed quarters; 0 in a yearly plan)
    account_goals: pd.DataFrame
    # quarter_start, fiscal_year, fiscal_quarter, territory_id, goal_cents, carried (set by an earlier plan)
    territory_goals: pd.DataFrame
    company_target_cents: int  # the plan year's target: carried quarters + the quarters set here
    seasonality: list[float]  # share of the year per fiscal quarter, FQ1..FQ4
    set_cents: int  # what this plan spreads: the whole target, or what the carried quarters leave
    capped_territories: list[str]


@dataclass(frozen=True)
class GoalsInForce:
    """The goals of the plan in force, which a quarterly run keeps for the quarters already elapsed."""

    territory_goals: pd.DataFrame  # quarter_start, fiscal_year, fiscal_quarter, territory_id, goal_cents
    company_target_cents: int


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


def grouped_largest_remainder(weights: np.ndarray, groups: np.ndarray, totals: pd.Series) -> np.ndarray:
    """Per group, integers proportional to `weights` summing exactly to `totals[group]` (vectorised).

    A group whose weights sum to zero splits its total evenly; ties go to the earlier row.
    """
    codes, uniques = pd.factorize(np.asarray(groups), sort=False)
    k, n = len(uniques), len(codes)
    w = np.nan_to_num(np.asarray(weights, dtype=float)).clip(min=0)
    tot = totals.reindex(uniques).to_numpy(dtype=np.int64)
    wsum = np.bincount(codes, weights=w, minlength=k)[codes]
    size = np.bincount(codes, minlength=k)[codes]
    share = np.divide(w, wsum, out=1.0 / size, where=wsum > 0)
    exact = share * tot[codes]
    base = np.minimum(np.floor(exact), tot[codes]).astype(np.int64)
    short = tot - np.rint(np.bincount(codes, weights=base, minlength=k)).astype(np.int64)
    order = np.lexsort((np.arange(n), -(exact - base), codes))  # by group, largest remainder first
    sorted_codes = codes[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.searchsorted(sorted_codes, np.arange(k))[sorted_codes]
    out = base + (rank < short[codes]).astype(np.int64)
    if not np.array_equal(np.rint(np.bincount(codes, weights=out, minlength=k)).astype(np.int64), tot):
        raise GoalError("goal rounding did not close; report this with the plan config")
    return out


def cap_territories(raw: pd.Series, caps: pd.Series, total: int) -> tuple[pd.Series, list[str]]:
    """Integer territory amounts near `raw` (summing exactly to `total`), none above its cap.

    What a cap removes is spread over the uncapped territories in proportion to their amounts,
    repeatedly, until no territory is over its cap. `caps`: the most each territory may get (NaN: no
    cap). Raises GoalError when the caps together cannot hold the total.
    """
    caps = caps.reindex(raw.index)
    limit = np.floor(caps.fillna(np.inf))
    if np.isfinite(limit).all() and limit.sum() < total:
        raise GoalError(
            f"the growth caps allow at most {limit.sum() / 100:,.2f} but the target is {total / 100:,.2f}: "
            "raise goals.max_growth_over_baseline (or lower the target) in config/plan.yaml"
        )
    fixed = pd.Series(False, index=raw.index)
    amounts = raw.astype(float).copy()
    for _ in range(len(raw) + 1):
        over = (~fixed) & (amounts > limit - 1)  # within a cent of the cap counts as capped
        if not over.any():
            break
        fixed |= over
        amounts[fixed] = limit[fixed]
        left = total - amounts[fixed].sum()
        free = ~fixed
        if not free.any():
            break
        base = raw[free].clip(lower=0)
        amounts[free] = base / base.sum() * left if base.sum() > 0 else left / free.sum()
    cents = pd.Series(0, index=raw.index, dtype=np.int64)
    cents[fixed] = limit[fixed].astype(np.int64)
    free = ~fixed
    left = int(total - cents[fixed].sum())
    if free.any():
        weights = amounts[free].to_numpy()
        cents[free] = largest_remainder(weights if weights.sum() > 0 else np.ones(len(weights)), left)
    elif left != 0:
        raise GoalError(
            "every territory is at its growth cap and the target is not met: raise "
            "goals.max_growth_over_baseline in config/plan.yaml"
        )
    return cents, [str(t) for t in raw.index[fixed]]


def account_weights(accounts: pd.DataFrame, cfg: GoalsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(baseline, bottom_up, weight): the share of the target each account carries under `cfg.method`.

    bottom-up = max(baseline + growth_share × (expected − baseline), 0); top-down = potential (what the
    account could buy); blend = (1 − w) × bottom-up share + w × top-down share.
    """
    baseline = accounts["revenue_t12m"].to_numpy(dtype=float).clip(min=0)
    expected = accounts["expected_revenue_next_4q"].to_numpy(dtype=float).clip(min=0)
    bottom_up = (baseline + cfg.growth_share * (expected - baseline)).clip(min=0)
    if cfg.method == "bottom_up":
        return baseline, bottom_up, bottom_up
    if "potential" not in accounts:
        raise GoalError(f"goals.method {cfg.method} needs each account's potential (column `potential`)")
    potential = accounts["potential"].fillna(accounts["expected_revenue_next_4q"]).to_numpy(dtype=float)
    potential = np.nan_to_num(potential, nan=0.0).clip(min=0)
    if cfg.method == "top_down":
        return baseline, bottom_up, potential
    w = cfg.blend_top_down_weight
    bu = bottom_up / bottom_up.sum() if bottom_up.sum() > 0 else np.zeros_like(bottom_up)
    td = potential / potential.sum() if potential.sum() > 0 else np.zeros_like(potential)
    return baseline, bottom_up, (1 - w) * bu + w * td


def _elapsed_account_goals(carried: pd.DataFrame, weight: np.ndarray, territory: np.ndarray) -> np.ndarray:
    """Each account's share of its territory's kept elapsed-quarter goals, by the account weights, so
    the elapsed span is traceable to accounts like the remaining one. GoalError when a territory with
    elapsed goals has no account left to carry them (its goals could not be traced)."""
    out = np.zeros(len(territory), dtype=np.int64)
    if not len(carried):
        return out
    per_terr = carried.groupby("territory_id")["goal_cents"].sum().astype(np.int64)
    orphans = sorted(set(per_terr.index[per_terr != 0]) - set(territory))
    if orphans:
        raise GoalError(
            f"territories {', '.join(map(str, orphans[:5]))} have elapsed-quarter goals but no accounts "
            "left in this quarterly plan: run a yearly plan to set new goals"
        )
    has = np.isin(territory, per_terr.index)
    if has.any():
        out[has] = grouped_largest_remainder(weight[has], territory[has], per_terr)
    return out


def set_goals(
    accounts: pd.DataFrame,
    quarterly_revenue: pd.DataFrame,
    cfg: GoalsConfig,
    plan_start: date,
    fiscal_year_start_month: int,
    in_force: GoalsInForce | None = None,
) -> Goals:
    """Account and territory goals for the plan starting at `plan_start`, phased by quarter.

    `accounts`: account_id, territory_id, revenue_t12m (baseline run-rate), expected_revenue_next_4q and,
    for top-down or blend, potential. The company target is `amount` or baseline total × (1 +
    growth_over_baseline). With `in_force` (a quarterly run) and `plan_start` inside that plan's year,
    the quarters before `plan_start` keep their goals and the year's target minus those goals is spread
    over the remaining quarters; the returned account goals are then the accounts' goals for those
    remaining quarters.
    """
    baseline, bottom_up, weight = account_weights(accounts, cfg)
    shares = seasonality_shares(quarterly_revenue, fiscal_year_start_month)
    quarters = plan_quarters(plan_start, fiscal_year_start_month)
    carried = pd.DataFrame(
        columns=["quarter_start", "fiscal_year", "fiscal_quarter", "territory_id", "goal_cents"]
    )
    if in_force is not None and len(in_force.territory_goals):
        prior = in_force.territory_goals.assign(
            quarter_start=pd.to_datetime(in_force.territory_goals["quarter_start"]).dt.date
        )
        year = sorted(prior["quarter_start"].unique())
        if year[0] <= plan_start <= year[-1]:  # still inside the plan year in force
            carried = prior[prior["quarter_start"] < plan_start]
            quarters = (
                prior[prior["quarter_start"] >= plan_start][
                    ["quarter_start", "fiscal_year", "fiscal_quarter"]
                ]
                .drop_duplicates()
                .sort_values("quarter_start")
                .reset_index(drop=True)
            )
            target_cents = int(in_force.company_target_cents)
        else:
            in_force = None
    if in_force is None:
        target = cfg.company_target.amount or baseline.sum() * (1 + cfg.company_target.growth_over_baseline)
        target_cents = int(round(target * 100))
    if target_cents <= 0:
        raise GoalError(
            "company target is zero: the accounts have no trailing revenue; set goals.company_target.amount in config/plan.yaml"
        )
    set_cents = int(target_cents - carried["goal_cents"].sum())
    if set_cents < 0:
        raise GoalError(
            f"the elapsed quarters' goals ({(target_cents - set_cents) / 100:,.2f}) already exceed the year's "
            f"target ({target_cents / 100:,.2f}): run a yearly plan to set a new target"
        )
    if weight.sum() <= 0:
        raise GoalError("no account has a baseline or predicted revenue to spread the company target over")

    q_weights = np.array([shares[fq - 1] for fq in quarters["fiscal_quarter"]])
    period_share = float(q_weights.sum() / np.sum(shares)) if len(q_weights) else 0.0
    territory = accounts["territory_id"].to_numpy()
    frame = pd.DataFrame({"territory_id": territory, "weight": weight, "baseline": baseline})
    per_terr = frame.groupby("territory_id", sort=True)[["weight", "baseline"]].sum()
    raw = per_terr["weight"] / per_terr["weight"].sum() * set_cents
    if cfg.max_growth_over_baseline is None:
        caps = pd.Series(np.nan, index=per_terr.index)
    else:  # a territory with no baseline has nothing to measure growth against: it is not capped
        caps = (per_terr["baseline"] * 100 * period_share * (1 + cfg.max_growth_over_baseline)).where(
            per_terr["baseline"] > 0
        )
    territory_cents, capped = cap_territories(raw, caps, set_cents)
    goal_cents = grouped_largest_remainder(weight, territory, territory_cents)
    elapsed_cents = _elapsed_account_goals(carried, weight, territory)
    account_goals = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy(),
            "territory_id": territory,
            "baseline": baseline,
            "bottom_up": bottom_up,
            "weight": weight,
            "goal_cents": goal_cents,
            "goal_elapsed_cents": elapsed_cents,
        }
    )

    rows = []
    if len(quarters):
        for territory_id, cents in territory_cents.items():  # one small allocation per territory
            if cents > 0 and q_weights.sum() > 0:
                per_q = largest_remainder(q_weights, int(cents))
            else:
                per_q = largest_remainder(np.ones(len(quarters)), int(cents)) if cents > 0 else 0
            rows.append(quarters.assign(territory_id=territory_id, goal_cents=per_q, carried=False))
    if len(carried):
        rows.insert(0, carried.assign(carried=True))
    territory_goals = pd.concat(rows, ignore_index=True).sort_values(["territory_id", "quarter_start"])
    territory_goals["goal_cents"] = territory_goals["goal_cents"].astype(np.int64)
    return Goals(
        account_goals,
        territory_goals.reset_index(drop=True),
        target_cents,
        shares,
        set_cents,
        capped,
    )
