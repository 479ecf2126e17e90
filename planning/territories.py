"""First territory design: balanced workload per role pool, compact cells for field pools.

Walking-skeleton engine, honestly simple: field (geographic) pools are cut by recursive bisection
along the wider axis at the workload-weighted median, so every cell is a compact rectangle with
near-equal hours; non-geographic pools (key accounts, inside, digital) are dealt heaviest first in
serpentine order. A bounded local search then moves single accounts from the heaviest to the lightest
territory until every territory is within the balance tolerance. The OR-Tools engine that weighs travel,
disruption and locks replaces this in a later issue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EARTH_RADIUS_KM = 6371.0088
ROLE_PREFIX = {"key_account_manager": "KAM", "field": "FLD", "inside": "INS", "digital": "DIG"}


class TerritoryDesignError(ValueError):
    """The requested design cannot be built (too few accounts, missing coordinates...)."""


@dataclass(frozen=True)
class TerritoryDesign:
    assignment: pd.DataFrame  # account_id, territory_id, role
    territories: pd.DataFrame  # one row per territory with workload, value, balance and travel figures
    metrics: dict[str, float | int]


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of points (degrees)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def bisect_geographic(lat: np.ndarray, lon: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """Split points into k compact cells of near-equal weight; returns the cell (0..k-1) of each point.

    Each step sorts one cell's points along its wider axis (longitude scaled by cos(latitude)) and
    cuts where the cumulative weight reaches the share of the cells that go to the first half.
    """
    n = len(weight)
    if k < 1 or n < k:
        raise TerritoryDesignError(f"cannot cut {n} accounts into {k} territories")
    x = lon * np.cos(np.radians(np.nanmean(lat)))
    cell = np.zeros(n, dtype=np.int64)
    stack: list[tuple[np.ndarray, int, int]] = [(np.arange(n), k, 0)]
    while stack:  # one iteration per cell split: about 2k, never per account
        idx, cells, first = stack.pop()
        if cells == 1:
            cell[idx] = first
            continue
        xs, ys = x[idx], lat[idx]
        axis = xs if np.ptp(xs) >= np.ptp(ys) else ys
        order = idx[np.lexsort((idx, axis))]
        left_cells = cells // 2
        cum = np.cumsum(weight[order])
        target = cum[-1] * left_cells / cells
        cut = int(np.argmin(np.abs(cum - target))) + 1
        cut = min(max(cut, left_cells), len(order) - (cells - left_cells))  # every cell keeps an account
        stack.append((order[:cut], left_cells, first))
        stack.append((order[cut:], cells - left_cells, first + left_cells))
    return cell


def deal_serpentine(weight: np.ndarray, k: int) -> np.ndarray:
    """Deal items heaviest first in 0..k-1, k-1..0 order: a vectorised greedy for non-geographic pools."""
    n = len(weight)
    if k < 1 or n < k:
        raise TerritoryDesignError(f"cannot deal {n} accounts into {k} territories")
    order = np.argsort(-weight, kind="stable")
    pos = np.arange(n)
    rnd, within = pos // k, pos % k
    slot = np.where(rnd % 2 == 0, within, k - 1 - within)
    cell = np.empty(n, dtype=np.int64)
    cell[order] = slot
    return cell


def rebalance(
    cell: np.ndarray,
    weight: np.ndarray,
    k: int,
    tolerance: float,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    movable: np.ndarray | None = None,
    max_moves: int | None = None,
) -> np.ndarray:
    """Move single accounts from the heaviest to the lightest territory while that narrows the spread.

    Among the heaviest territory's movable accounts that fit in the gap, take the one nearest the lightest
    territory's centre (geographic pools) or the one closest to half the gap (others). Stops when every
    territory is within `tolerance` of the mean, or no move helps.
    """
    cell = cell.copy()
    movable = np.ones(len(cell), dtype=bool) if movable is None else movable
    max_moves = max_moves if max_moves is not None else 20 * k + 100
    loads = np.bincount(cell, weights=weight, minlength=k)
    mean = loads.mean()
    for _ in range(max_moves):
        hi, lo = int(np.argmax(loads)), int(np.argmin(loads))
        if mean <= 0 or max(loads[hi] - mean, mean - loads[lo]) <= tolerance * mean:
            break
        gap = loads[hi] - loads[lo]
        cand = np.flatnonzero((cell == hi) & movable & (weight > 0) & (weight < gap))
        if cand.size == 0:
            break
        if lat is not None and lon is not None:
            in_lo = cell == lo
            dist = haversine_km(lat[cand], lon[cand], lat[in_lo].mean(), lon[in_lo].mean())
            pick = cand[np.argmin(dist)]
        else:
            pick = cand[np.argmin(np.abs(weight[cand] - gap / 2))]
        cell[pick] = lo
        loads[hi] -= weight[pick]
        loads[lo] += weight[pick]
    return cell


def summarise(assign: pd.DataFrame, accounts: pd.DataFrame, geographic_roles: list[str]) -> pd.DataFrame:
    """Per territory: accounts, workload, value, potential, balance deviation and travel to its centre."""
    df = assign.merge(accounts, on="account_id", how="left", validate="one_to_one")
    grp = df.groupby("territory_id", sort=True)
    terr = grp.agg(
        role=("role", "first"),
        accounts=("account_id", "size"),
        workload_hours=("workload_hours", "sum"),
        revenue_t12m=("revenue_t12m", "sum"),
        potential=("potential", "sum"),
        centre_lat=("lat", "mean"),
        centre_lon=("lon", "mean"),
    ).reset_index()
    pool_mean = terr.groupby("role")["workload_hours"].transform("mean")
    terr["balance_deviation"] = np.where(pool_mean > 0, terr["workload_hours"] / pool_mean - 1.0, 0.0)
    centre = df[["territory_id"]].merge(terr[["territory_id", "centre_lat", "centre_lon"]], on="territory_id")
    df["travel_km"] = haversine_km(df["lat"], df["lon"], centre["centre_lat"], centre["centre_lon"])
    travel = df.groupby("territory_id")["travel_km"].agg(mean_travel_km="mean", max_travel_km="max")
    terr = terr.merge(travel.reset_index(), on="territory_id")
    geo = terr["role"].isin(geographic_roles)
    terr.loc[~geo, ["mean_travel_km", "max_travel_km"]] = np.nan  # not laid out by location
    return terr


def _territory_ids(role: str, k: int) -> np.ndarray:
    return np.array([f"{ROLE_PREFIX.get(role, role[:3].upper())}-{i + 1:03d}" for i in range(k)])


def design_territories(
    accounts: pd.DataFrame,
    counts: dict[str, int],
    geographic_roles: list[str],
    tolerance: float,
) -> TerritoryDesign:
    """Yearly design: every account into exactly one territory of its coverage role's pool.

    `accounts`: account_id, coverage_role, workload_hours, lat, lon, revenue_t12m, potential.
    `counts`: territories per role (roles with accounts but no count get one territory).
    """
    parts = []
    for role, pool in accounts.groupby("coverage_role", sort=True):
        k = int(counts.get(role, 1))
        w = pool["workload_hours"].to_numpy(dtype=float)
        lat, lon = pool["lat"].to_numpy(dtype=float), pool["lon"].to_numpy(dtype=float)
        geo = role in geographic_roles
        if geo and (np.isnan(lat).any() or np.isnan(lon).any()):
            bad = pool.loc[pool["lat"].isna() | pool["lon"].isna(), "account_id"].head(3).tolist()
            raise TerritoryDesignError(f"{role} pool is geographic but accounts lack lat/lon, e.g. {bad}")
        k = min(k, len(pool))
        cell = bisect_geographic(lat, lon, w, k) if geo else deal_serpentine(w, k)
        cell = rebalance(cell, w, k, tolerance, lat if geo else None, lon if geo else None)
        parts.append(
            pd.DataFrame(
                {
                    "account_id": pool["account_id"].to_numpy(),
                    "territory_id": _territory_ids(role, k)[cell],
                    "role": role,
                }
            )
        )
    assignment = pd.concat(parts, ignore_index=True)
    territories = summarise(assignment, accounts.drop(columns=["coverage_role"]), geographic_roles)
    return TerritoryDesign(assignment, territories, design_metrics(territories, tolerance))


def assign_new_accounts(
    accounts: pd.DataFrame,
    previous: pd.DataFrame,
    geographic_roles: list[str],
    tolerance: float,
) -> TerritoryDesign:
    """Quarterly mode: accounts keep their previous territory; only new (or re-tiered) accounts are placed.

    `previous`: account_id, territory_id, role from the last published plan. An account keeps its
    territory when that territory belongs to its current role's pool; others go to the nearest territory
    centre (geographic pools) or fill the lightest territories first (other pools). A pool with no
    previous territory is designed from scratch with one territory.
    """
    prev = previous[["account_id", "territory_id", "role"]]
    merged = accounts.merge(prev, on="account_id", how="left", validate="one_to_one")
    keep = merged["territory_id"].notna() & (merged["role"] == merged["coverage_role"])
    kept = merged.loc[keep, ["account_id", "territory_id", "coverage_role"]].rename(
        columns={"coverage_role": "role"}
    )
    parts = [kept]
    new = merged.loc[~keep]
    for role, pool in new.groupby("coverage_role", sort=True):
        existing = kept[kept["role"] == role].merge(accounts, on="account_id")
        if existing.empty:
            ids = np.full(len(pool), _territory_ids(role, 1)[0])
        elif role in geographic_roles:
            centres = existing.groupby("territory_id")[["lat", "lon"]].mean()
            d = haversine_km(
                pool["lat"].to_numpy()[:, None],
                pool["lon"].to_numpy()[:, None],
                centres["lat"].to_numpy()[None, :],
                centres["lon"].to_numpy()[None, :],
            )
            ids = centres.index.to_numpy()[np.argmin(d, axis=1)]
        else:
            loads = existing.groupby("territory_id")["workload_hours"].sum().sort_values()
            # fill the lightest territories first: cut the new accounts' cumulative hours at the deficits
            deficit = (loads.max() - loads).to_numpy()
            w = pool["workload_hours"].to_numpy(dtype=float)
            bounds = np.cumsum(deficit + (w.sum() - deficit.sum()).clip(min=0) / len(loads))
            slot = np.searchsorted(bounds, np.cumsum(w) - w / 2).clip(max=len(loads) - 1)
            ids = loads.index.to_numpy()[slot]
        parts.append(
            pd.DataFrame({"account_id": pool["account_id"].to_numpy(), "territory_id": ids, "role": role})
        )
    assignment = pd.concat(parts, ignore_index=True)
    territories = summarise(assignment, accounts.drop(columns=["coverage_role"]), geographic_roles)
    metrics = design_metrics(territories, tolerance)
    metrics["accounts_kept"] = int(keep.sum())
    metrics["accounts_placed"] = int((~keep).sum())
    return TerritoryDesign(assignment, territories, metrics)


def design_metrics(territories: pd.DataFrame, tolerance: float) -> dict[str, float | int]:
    """Plan-level figures: balance per pool, travel, and whether every territory is within tolerance."""
    dev = territories["balance_deviation"].abs()
    metrics: dict[str, float | int] = {
        "territories": len(territories),
        "balance_tolerance": tolerance,
        "max_abs_balance_deviation": float(dev.max()),
        "mean_abs_balance_deviation": float(dev.mean()),
        "territories_outside_tolerance": int((dev > tolerance + 1e-12).sum()),
        "mean_travel_km": float(territories["mean_travel_km"].mean())
        if territories["mean_travel_km"].notna().any()
        else 0.0,
        "max_travel_km": float(territories["max_travel_km"].max())
        if territories["max_travel_km"].notna().any()
        else 0.0,
    }
    for role, d in territories.groupby("role")["balance_deviation"]:
        metrics[f"max_abs_balance_deviation_{role}"] = float(d.abs().max())
    return metrics


def staff_territories(
    territories: pd.DataFrame, reps: pd.DataFrame, geographic_roles: list[str]
) -> pd.DataFrame:
    """Give each territory an owner: a rep of the same role, matched to minimise total home-to-centre distance
    for geographic pools (Hungarian method), in id order for the others. Territories left without a rep of
    their role get no owner (a vacancy: see coverage_summary.hiring_gap).

    `reps`: rep_id, role, home_lat, home_lon.
    """
    from scipy.optimize import linear_sum_assignment

    owner = pd.Series(pd.NA, index=territories.index, dtype="object")
    for role, terr in territories.groupby("role"):
        pool = reps[reps["role"] == role].sort_values("rep_id")
        if pool.empty:
            continue
        if role in geographic_roles:
            cost = haversine_km(
                terr["centre_lat"].to_numpy()[:, None],
                terr["centre_lon"].to_numpy()[:, None],
                pool["home_lat"].to_numpy()[None, :],
                pool["home_lon"].to_numpy()[None, :],
            )
            rows, cols = linear_sum_assignment(cost)
        else:
            n = min(len(terr), len(pool))
            rows, cols = np.arange(n), np.arange(n)
        owner.loc[terr.index[rows]] = pool["rep_id"].to_numpy()[cols]
    return territories.assign(owner_rep_id=owner)
