"""Territory design: balanced, compact, low-disruption territories per coverage-role pool.

Field (geographic) pools start from a recursive bisection into compact cells of near-equal workload,
then the optimiser in `planning.territories_engine` (OR-Tools min-cost flow or a HiGHS LP, with free
centres moved between rounds, and a local-search balance repair) minimises travel to each territory's
centre plus a disruption cost for leaving the current territory, keeping every balance measure within
the band. Non-geographic pools (key accounts, inside, digital) balance on the measures only. Locks
(named accounts) are always honoured. Quarterly mode places only new or re-tiered accounts.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planning.territories_engine import (
    EARTH_RADIUS_KM,
    PoolSolution,
    SolverOptions,
    centroids,
    haversine_km,
    solve_pool,
)
from planning.territories_metrics import plan_metrics, territory_table

__all__ = [
    "EARTH_RADIUS_KM",
    "SolverOptions",
    "TerritoryDesign",
    "TerritoryDesignError",
    "assign_new_accounts",
    "bisect_geographic",
    "design_pool",
    "design_territories",
    "haversine_km",
    "staff_territories",
]

ROLE_PREFIX = {"key_account_manager": "KAM", "field": "FLD", "inside": "INS", "digital": "DIG"}
# pipeline measure names → account columns
MEASURE_COLUMNS = {
    "workload": "workload_hours",
    "value": "revenue_t12m",
    "potential": "potential",
    "accounts": "accounts",
}


class TerritoryDesignError(ValueError):
    """The requested design cannot be built (too few accounts, missing coordinates, a bad lock...)."""


@dataclass(frozen=True)
class TerritoryDesign:
    assignment: pd.DataFrame  # account_id, territory_id, role
    territories: pd.DataFrame  # one row per territory with workload, value, balance and travel figures
    metrics: dict[str, float | int]
    accounts: pd.DataFrame | None = None  # per account: travel, current and locked territory (for the report)


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


def territory_ids(role: str, k: int) -> list[str]:
    """Stable ids per pool (FLD-001, ...): the same id in consecutive plans means the same territory."""
    return [f"{ROLE_PREFIX.get(role, role[:3].upper())}-{i + 1:03d}" for i in range(k)]


def _measure_matrix(frame: pd.DataFrame, measures: list[str], label: str) -> np.ndarray:
    cols = []
    for m in measures:
        if m == "accounts":
            cols.append(np.ones(len(frame)))
            continue
        if m not in frame.columns:
            raise TerritoryDesignError(f"{label}: balance measure column {m!r} is missing")
        v = pd.to_numeric(frame[m], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
        if bad.size:
            ids = frame["account_id"].iloc[bad[:3]].tolist()
            raise TerritoryDesignError(
                f"{label}: column {m!r} must be a number >= 0 for every account; {bad.size} are not, e.g. {ids}"
            )
        cols.append(v)
    return np.column_stack(cols)


def design_pool(
    frame: pd.DataFrame,
    ids: list[str],
    measures: list[str],
    opts: SolverOptions,
    geographic: bool,
    movable: np.ndarray | None = None,
    centres: pd.DataFrame | None = None,
    distances: pd.DataFrame | None = None,
    label: str = "accounts",
) -> tuple[pd.DataFrame, pd.DataFrame, PoolSolution]:
    """Assign one pool's accounts to the territories `ids`.

    `frame`: account_id, the measure columns, lat/lon when `geographic`, optional current_territory_id
    and locked_territory_id. `centres` (territory_id, lat, lon) fixes the centres (rep home bases);
    `distances` (account_id, territory_id, distance) replaces great-circle travel and fixes the
    centres too. Returns per account (account_id, territory_id, travel), the centres, and the solve.
    """
    n, k = len(frame), len(ids)
    if k < 1 or (n < k and movable is None):
        raise TerritoryDesignError(f"{label}: cannot cut {n} accounts into {k} territories")
    index = {t: i for i, t in enumerate(ids)}
    w = _measure_matrix(frame, measures, label)
    current = (
        frame["current_territory_id"].map(index).fillna(-1).to_numpy(dtype=np.int64)
        if "current_territory_id" in frame.columns
        else None
    )
    locked = None
    if "locked_territory_id" in frame.columns:
        lk = frame["locked_territory_id"]
        locked = lk.map(index).fillna(-1).to_numpy(dtype=np.int64)
        bad = lk.notna().to_numpy() & (locked < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise TerritoryDesignError(
                f"{label}: account {frame['account_id'].iloc[i]!r} is locked to territory "
                f"{lk.iloc[i]!r}, which is not one of this pool's territories ({ids[0]} … {ids[-1]}); "
                "fix the lock or the territory count"
            )
    lat = lon = c_lat = c_lon = matrix = None
    fixed = False
    if distances is not None:
        acc_index = pd.Series(np.arange(n), index=frame["account_id"].to_numpy())
        d = distances[distances["account_id"].isin(acc_index.index) & distances["territory_id"].isin(index)]
        missing = ~frame["account_id"].isin(d["account_id"])
        if missing.any():
            raise TerritoryDesignError(
                f"{label}: the travel matrix has no distance to any territory for {int(missing.sum())} "
                f"accounts, e.g. {frame.loc[missing, 'account_id'].head(3).tolist()}; add rows for them"
            )
        matrix = (
            acc_index[d["account_id"]].to_numpy(dtype=np.int64),
            d["territory_id"].map(index).to_numpy(dtype=np.int64),
            d["distance"].to_numpy(dtype=float),
        )
    elif geographic:
        lat = frame["lat"].to_numpy(dtype=float)
        lon = frame["lon"].to_numpy(dtype=float)
        bad = np.isnan(lat) | np.isnan(lon)
        if bad.any():
            raise TerritoryDesignError(
                f"{label}: the pool is geographic but {int(bad.sum())} accounts lack lat/lon, e.g. "
                f"{frame.loc[bad, 'account_id'].head(3).tolist()}; add coordinates or give a travel matrix"
            )
        if centres is not None:
            c = centres.set_index("territory_id").reindex(ids)
            c_lat, c_lon = c["lat"].to_numpy(dtype=float), c["lon"].to_numpy(dtype=float)
            fixed = True
        else:
            cell = bisect_geographic(lat, lon, w[:, 0] + 1e-9, min(k, n))
            c_lat, c_lon = centroids(lat, lon, cell, k)
            if current is not None and (current >= 0).any():
                has = current >= 0
                p_lat, p_lon = centroids(lat[has], lon[has], current[has], k)
                use = ~np.isnan(p_lat)
                c_lat[use], c_lon[use] = p_lat[use], p_lon[use]
            if movable is not None:  # quarterly: centres are where the kept accounts are
                fixed = True
    sol = solve_pool(w, k, opts, lat, lon, c_lat, c_lon, fixed, matrix, current, locked, movable)
    out = pd.DataFrame(
        {
            "account_id": frame["account_id"].to_numpy(),
            "territory_id": np.asarray(ids)[sol.cell],
            "travel": sol.travel,
        }
    )
    centre_df = pd.DataFrame(
        {
            "territory_id": ids,
            "centre_lat": sol.centre_lat if sol.centre_lat is not None else np.nan,
            "centre_lon": sol.centre_lon if sol.centre_lon is not None else np.nan,
        }
    )
    return out, centre_df, sol


def _options(tolerance: float, options: SolverOptions | None) -> SolverOptions:
    from dataclasses import replace

    opts = options or SolverOptions()
    return replace(opts, tolerance=tolerance, target=min(opts.target, tolerance))


def _finish(
    accounts: pd.DataFrame,
    assigned: pd.DataFrame,
    centres: pd.DataFrame,
    measures: list[str],
    tolerance: float,
    geographic_roles: list[str],
) -> TerritoryDesign:
    """Territory table and metrics in the pipeline's vocabulary (workload_hours, revenue_t12m, potential)."""
    cols = [c for c in ["workload_hours", "revenue_t12m", "potential", "lat", "lon"] if c in accounts.columns]
    extra = [m for m in measures if m not in cols and m != "accounts" and m in accounts.columns]
    per_account = assigned.merge(accounts[["account_id", *cols, *extra]], on="account_id", how="left")
    sum_cols = list(
        dict.fromkeys(
            [
                *measures,
                *[c for c in ["workload_hours", "revenue_t12m", "potential"] if c in cols],
                "accounts",
            ]
        )
    )
    table = territory_table(
        per_account, sum_cols, value_column="revenue_t12m" if "revenue_t12m" in cols else None
    )
    geo = table["pool"].isin(geographic_roles)
    table.loc[~geo, ["total_travel", "mean_travel", "max_travel", "diameter_km"]] = np.nan
    table = table.merge(centres, on="territory_id", how="left")
    primary = measures[0]
    table["balance_deviation"] = table[f"{primary}_deviation"]
    table = table.rename(
        columns={
            "pool": "role",
            "total_travel": "total_travel_km",
            "mean_travel": "mean_travel_km",
            "max_travel": "max_travel_km",
        }
    )
    per_account.loc[~per_account["pool"].isin(geographic_roles), "travel"] = np.nan
    metrics = plan_metrics(
        per_account,
        table.rename(columns={"role": "pool"}),
        measures,
        tolerance,
        "revenue_t12m" if "revenue_t12m" in cols else None,
    )
    metrics = {
        k.replace("travel", "travel_km") if k in {"total_travel", "mean_travel", "max_travel"} else k: v
        for k, v in metrics.items()
    }
    front = [
        "territory_id",
        "role",
        "accounts",
        "workload_hours",
        "revenue_t12m",
        "potential",
        "balance_deviation",
        "centre_lat",
        "centre_lon",
        "mean_travel_km",
        "max_travel_km",
    ]
    front = [c for c in front if c in table.columns]
    table = table[front + [c for c in table.columns if c not in front]]
    assignment = per_account[["account_id", "territory_id", "pool"]].rename(columns={"pool": "role"})
    return TerritoryDesign(assignment, table, metrics, per_account)


def _pool_frame(
    pool: pd.DataFrame, previous: pd.DataFrame | None, locks: dict[str, str] | None
) -> pd.DataFrame:
    frame = pool.copy()
    if previous is not None:
        frame = frame.merge(
            previous[["account_id", "territory_id"]].rename(columns={"territory_id": "current_territory_id"}),
            on="account_id",
            how="left",
        )
    if locks:
        frame["locked_territory_id"] = frame["account_id"].map(locks)
    return frame


PROCESS_MIN_ACCOUNTS = 50_000  # a pool this large is worth a process of its own (starting one costs ~2 s)


def solve_pools(
    jobs: list[tuple[str, pd.DataFrame, dict]], measures: list[str], opts: SolverOptions
) -> list[tuple[pd.DataFrame, pd.DataFrame, PoolSolution]]:
    """`design_pool` for each (role, frame, keyword arguments) job, results in job order.

    The pools are independent and each is seeded, so where a pool is solved does not change its
    result. With `opts.processes` > 1 and more than one pool, the costliest pools of at least
    PROCESS_MIN_ACCOUNTS accounts (geographic first, then the largest; at most processes - 1 of them)
    are solved by worker processes while this process solves the others: the min-cost flows hold the
    GIL, so threads would take turns. A worker's error (e.g. TerritoryDesignError) is raised here as it
    would be in-process."""
    away = sorted(
        (i for i, (_, frame, _) in enumerate(jobs) if len(frame) >= PROCESS_MIN_ACCOUNTS),
        key=lambda i: (not jobs[i][2]["geographic"], -len(jobs[i][1]), i),  # location rounds cost most
    )[: max(opts.processes - 1, 0)]
    if len(jobs) < 2:
        away = []
    with tempfile.TemporaryDirectory(prefix="covplan-pools-") as tmp:
        workers: dict[int, _PoolWorker] = {}
        try:  # every started worker is stopped on the way out, whatever fails
            for i in away:
                workers[i] = _PoolWorker(Path(tmp) / str(i), (jobs[i][1], measures, opts, jobs[i][2]))
            results = {
                i: design_pool(frame, measures=measures, opts=opts, **kw)
                for i, (_, frame, kw) in enumerate(jobs)
                if i not in workers
            }
            results.update({i: worker.result() for i, worker in workers.items()})
        finally:
            for worker in workers.values():
                worker.stop()
    return [results[i] for i in range(len(jobs))]


class _PoolWorker:
    """One pool solved by a fresh Python process (`python -m planning.territories`): the job and the
    result travel as pickles in files, so nothing the solvers print can corrupt them, and the child
    imports only this module (multiprocessing's spawn would re-run the caller's __main__)."""

    def __init__(self, base: Path, job: tuple) -> None:
        self.job_path, self.result_path = base.with_suffix(".job"), base.with_suffix(".result")
        self.stderr_path = base.with_suffix(".stderr")  # a file, not a pipe: nobody reads while it works
        self.job_path.write_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "planning.territories", str(self.job_path), str(self.result_path)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame, PoolSolution]:
        self.process.wait()
        if self.process.returncode != 0 or not self.result_path.exists():
            said = self.stderr_path.read_text(errors="replace").strip()[-2000:]
            raise RuntimeError(
                f"the territory-design worker process failed (exit code {self.process.returncode}): "
                f"{said}; set territories.processes: 1 in config/plan.yaml to design every pool in the "
                "run's own process"
            )
        ok, value = pickle.loads(self.result_path.read_bytes())
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _work_on_pool(job_path: str, result_path: str) -> None:
    frame, measures, opts, kw = pickle.loads(Path(job_path).read_bytes())
    try:
        out = (True, design_pool(frame, measures=measures, opts=opts, **kw))
    except Exception as exc:  # handed to the parent, which raises it
        out = (False, exc)
    Path(result_path).write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))


def design_territories(
    accounts: pd.DataFrame,
    counts: dict[str, int],
    geographic_roles: list[str],
    tolerance: float,
    options: SolverOptions | None = None,
    measures: list[str] | None = None,
    previous: pd.DataFrame | None = None,
    locks: dict[str, str] | None = None,
    centres: dict[str, pd.DataFrame] | None = None,
) -> TerritoryDesign:
    """Yearly design: every account into exactly one territory of its coverage role's pool.

    `accounts`: account_id, coverage_role, workload_hours, lat, lon, revenue_t12m, potential.
    `counts`: territories per role (roles with accounts but no count get one territory).
    `previous`: account_id, territory_id of the current plan (disruption is measured against it).
    `locks`: account_id → territory_id, always honoured (named key accounts, pinned accounts).
    `centres`: per geographic role, fixed centres (territory_id, lat, lon), e.g. rep home bases; the
    role then gets one territory per centre.
    """
    opts = _options(tolerance, options)
    measures = measures or ["workload_hours"]
    _check_locks(accounts, locks)
    jobs = []
    for role, pool in accounts.groupby("coverage_role", sort=True):
        fixed = (centres or {}).get(role) if role in geographic_roles else None
        k = len(fixed) if fixed is not None else min(int(counts.get(role, 1)), len(pool))
        ids = fixed["territory_id"].tolist() if fixed is not None else territory_ids(role, k)
        frame = _pool_frame(pool.reset_index(drop=True), previous, locks)
        jobs.append(
            (
                role,
                frame,
                dict(ids=ids, geographic=role in geographic_roles, centres=fixed, label=f"{role} pool"),
            )
        )
    parts, centre_frames, cut_short = [], [], []
    for (role, frame, _), (out, cen, sol) in zip(jobs, solve_pools(jobs, measures, opts), strict=True):
        cut_short += [role] if sol.time_limit_hit else []
        parts.append(
            out.assign(
                pool=role,
                current_territory_id=frame.get("current_territory_id"),
                locked_territory_id=frame.get("locked_territory_id"),
            )
        )
        centre_frames.append(cen)
    assigned = pd.concat(parts, ignore_index=True)
    design = _finish(
        accounts,
        _drop_empty(assigned),
        pd.concat(centre_frames, ignore_index=True),
        measures,
        tolerance,
        geographic_roles,
    )
    design.metrics["time_limit_pools"] = ", ".join(cut_short)
    return design


def _drop_empty(df: pd.DataFrame) -> pd.DataFrame:
    for c in ["current_territory_id", "locked_territory_id"]:
        if c in df.columns and df[c].isna().all():
            df = df.drop(columns=c)
    return df


def _check_locks(accounts: pd.DataFrame, locks: dict[str, str] | None) -> None:
    if not locks:
        return
    unknown = sorted(set(locks) - set(accounts["account_id"]))
    if unknown:
        raise TerritoryDesignError(
            f"territories.locks names {len(unknown)} unknown accounts, e.g. {unknown[:3]}; remove them from config/plan.yaml"
        )


def assign_new_accounts(
    accounts: pd.DataFrame,
    previous: pd.DataFrame,
    geographic_roles: list[str],
    tolerance: float,
    options: SolverOptions | None = None,
    measures: list[str] | None = None,
    locks: dict[str, str] | None = None,
) -> TerritoryDesign:
    """Quarterly mode: accounts keep their previous territory; only new (or re-tiered) accounts are placed.

    `previous`: account_id, territory_id, role from the last published plan. An account keeps its
    territory when that territory belongs to its current role's pool; the others are placed by the same
    optimiser with every kept account fixed, so the new ones go near a territory centre and fill the
    lightest territories. A pool with no previous territory is designed from scratch with one territory.
    """
    opts = _options(tolerance, options)
    measures = measures or ["workload_hours"]
    _check_locks(accounts, locks)
    prev = previous[["account_id", "territory_id", "role"]]
    merged = accounts.merge(prev, on="account_id", how="left", validate="one_to_one")
    keep = (merged["territory_id"].notna() & (merged["role"] == merged["coverage_role"])).to_numpy()
    jobs = []
    for role, pool in accounts.groupby("coverage_role", sort=True):
        rows = pool.index.to_numpy()
        kept = keep[rows]
        ids = (
            sorted(prev.loc[prev["role"] == role, "territory_id"].unique().tolist())
            if kept.any()
            else territory_ids(role, 1)
        )
        frame = pool.reset_index(drop=True).assign(
            current_territory_id=np.where(kept, merged["territory_id"].to_numpy()[rows], None)
        )
        frame["current_territory_id"] = frame["current_territory_id"].where(
            frame["current_territory_id"].isin(ids)
        )
        if locks:
            frame["locked_territory_id"] = frame["account_id"].map(locks)
        stay = frame["current_territory_id"].notna().to_numpy()
        jobs.append(
            (
                role,
                frame,
                dict(ids=ids, geographic=role in geographic_roles, movable=~stay, label=f"{role} pool"),
            )
        )
    parts, centres, cut_short = [], [], []
    for (role, frame, _), (out, cen, sol) in zip(jobs, solve_pools(jobs, measures, opts), strict=True):
        cut_short += [role] if sol.time_limit_hit else []
        parts.append(
            out.assign(
                pool=role,
                current_territory_id=frame["current_territory_id"],
                locked_territory_id=frame.get("locked_territory_id"),
            )
        )
        centres.append(cen)
    assigned = _drop_empty(pd.concat(parts, ignore_index=True))
    design = _finish(
        accounts, assigned, pd.concat(centres, ignore_index=True), measures, tolerance, geographic_roles
    )
    design.metrics["accounts_kept"] = int(keep.sum())
    design.metrics["accounts_placed"] = int((~keep).sum())
    design.metrics["time_limit_pools"] = ", ".join(cut_short)
    return design


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
            # a rep without a home base (optional in reps files) costs the same for every territory:
            # matched after the located reps, never a crash on NaN
            cost = np.where(np.isfinite(cost), cost, 4 * EARTH_RADIUS_KM * np.pi)
            rows, cols = linear_sum_assignment(cost)
        else:
            n = min(len(terr), len(pool))
            rows, cols = np.arange(n), np.arange(n)
        owner.loc[terr.index[rows]] = pool["rep_id"].to_numpy()[cols]
    return territories.assign(owner_rep_id=owner)


if __name__ == "__main__":  # a pool worker process of solve_pools
    # run the importable module's copy, so what the result pickles (a TerritoryDesignError, say) is
    # planning.territories.X for the parent, not __main__.X
    from planning.territories import _work_on_pool as work

    work(sys.argv[1], sys.argv[2])
