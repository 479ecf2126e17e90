"""Territory optimiser for one pool: min-cost flow (OR-Tools) / LP (HiGHS) plus local-search repair.

The problem per pool: put each of n accounts into one of k territories so that every balance measure
(workload hours, value, ...) of every territory lies within a band around the pool mean, travel from
each account to its territory's centre is small, and accounts stay where they are unless moving pays.

How it is solved:
1. Candidates: each account may go to its `candidates` nearest centres (KD-tree on the unit sphere,
   so nearest by great-circle), plus its current and its locked territory, and every territory may
   take its ~2n/k nearest accounts (so a remote centre can still fill up). With a travel matrix the
   given pairs are the candidates; without geography all territories (or a seeded handful).
2. Allocation over the candidate arcs: minimise travel (over the typical distance) + disruption
   weight x account size x [arc leaves the current territory] (size: the account's primary measure
   over the mean account's), with every account fully assigned and every (territory, measure) load
   in a band around the mean. One measure: an OR-Tools min-cost flow (accounts supply their scaled
   weight). Several: a HiGHS linear program. The bands are elastic in tiers: free inside the target,
   a moderate price up to the tolerance (so a high disruption weight may keep a plan that is within
   tolerance), prohibitive beyond it (so a lock or an impossible account yields a plan that reports
   its imbalance instead of failing). Accounts the solution splits go to their largest share.
   Travel-minimising transportation solutions with balance constraints are additively weighted
   Voronoi cells: compact and non-overlapping.
3. Free centres: the centres move to the mean position of their accounts and the flow is solved
   again (location-allocation, as in Hess & Weaver's districting), until centres settle or half the
   time limit is spent; with several measures LP rounds then continue from the settled centres while
   they fit in the time limit.
   Fixed centres (rep home bases, a travel matrix) skip this loop.
4. Repair: rounding leaves small violations; a local search moves single accounts out of the worst
   (territory, measure) or into it, among the moves achieving at least half the best reduction of the
   squared excess choosing the one adding least travel: first into the tolerance (any movable
   account), then into the target (only accounts whose move costs no disruption or that were split).
   When no single move helps (several measures pull apart), a pair of accounts is exchanged with a
   neighbouring territory.
5. Polish (geography or a travel matrix): rounds of moves and exchanges between neighbouring
   territories that lower travel + disruption while no measure leaves the target band, the best
   non-conflicting ones per round, within a share of the time limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class SolverOptions:
    """Knobs of one pool solve (from `territories:` in config/plan.yaml or the CLI)."""

    tolerance: float = 0.05  # hard requirement: every load within ±tolerance of the mean
    target: float = 0.01  # what the optimiser aims for (the free band and the repair goal)
    disruption_weight: float = 1.0  # cost of moving an average-sized account, in typical travel distances
    candidates: int = 8  # nearest territories each account may join (plus current and locked)
    max_iterations: int = 8  # location-allocation rounds with free centres
    # ... and no more rounds than this many candidate arcs allow at the first round's count (a round
    # allocates every free account over its candidate arcs): a large pool stops moving its centres
    # after fewer rounds, on a count that depends on the inputs only (0: no budget). With several
    # measures the LP rounds that follow are capped to the same number of rounds.
    location_arcs_budget: int = 6_000_000
    time_limit_seconds: float = 180.0  # wall clock for the whole pool solve: a safety net
    seed: int = 42
    processes: int = 1  # pools solved side by side in worker processes (planning.territories.solve_pools)


@dataclass(frozen=True)
class PoolSolution:
    cell: np.ndarray  # territory index 0..k-1 per account
    centre_lat: np.ndarray | None  # (k,) final centres, None without geography
    centre_lon: np.ndarray | None
    travel: np.ndarray  # per account: distance to its territory's centre (km or matrix units), NaN without
    iterations: int
    lp_seconds: float
    repair_moves: int
    # the wall-clock limit cut a step short: only then can the same inputs give another result (on a
    # slower or busier machine); reported in the plan's metrics and logged as a warning
    time_limit_hit: bool = False


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of points (degrees); broadcasts like numpy."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere: Euclidean order of chords equals great-circle order."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def centroids(lat: np.ndarray, lon: np.ndarray, cell: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical mean position of each cell's accounts (empty cells get NaN)."""
    xyz = unit_vectors(lat, lon)
    sums = np.column_stack([np.bincount(cell, weights=xyz[:, j], minlength=k) for j in range(3)])
    norm = np.linalg.norm(sums, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = sums / norm
    return np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1))), np.degrees(np.arctan2(v[:, 1], v[:, 0]))


def _merge_extra(cand: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Append one extra territory column per account (-1 = none), dropping it where already present."""
    present = (cand == extra[:, None]).any(axis=1)
    col = np.where(present | (extra < 0), -1, extra)
    return np.column_stack([cand, col]) if (col >= 0).any() else cand


def geo_candidates(
    lat: np.ndarray, lon: np.ndarray, c_lat: np.ndarray, c_lon: np.ndarray, width: int, must: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Each account's `width` nearest centres plus the territories in `must` (current, locked): ids and km."""
    from scipy.spatial import cKDTree

    k = len(c_lat)
    nearest = min(width, k)
    ok = ~np.isnan(c_lat)
    tree = cKDTree(unit_vectors(c_lat[ok], c_lon[ok]))
    _, idx = tree.query(unit_vectors(lat, lon), k=min(nearest, int(ok.sum())))
    idx = np.atleast_2d(idx.reshape(len(lat), -1))
    cand = np.flatnonzero(ok)[idx]
    for extra in must:
        cand = _merge_extra(cand, extra)
    # reverse arcs: every territory may take its nearest accounts, so an outlying centre (an island, a
    # remote state) can still fill up to the mean
    reach = min(len(lat), int(np.ceil(2.0 * len(lat) / k)) + 1)
    _, near = cKDTree(unit_vectors(lat, lon)).query(unit_vectors(c_lat[ok], c_lon[ok]), k=reach)
    near = np.atleast_2d(near.reshape(int(ok.sum()), -1))
    rev_t = np.repeat(np.flatnonzero(ok), near.shape[1])
    rev_a = near.ravel()
    fwd_a, fwd_j = np.nonzero(cand >= 0)
    pa = np.concatenate([fwd_a, rev_a])
    pt = np.concatenate([cand[fwd_a, fwd_j], rev_t])
    key = np.unique(pa * k + pt)
    pa, pt = key // k, key % k
    dist = haversine_km(lat[pa], lon[pa], c_lat[pt], c_lon[pt])
    return matrix_candidates(len(lat), pa, pt, dist, None)


def matrix_candidates(
    n: int, pair_account: np.ndarray, pair_territory: np.ndarray, pair_cost: np.ndarray, width: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Dense (n, width) candidate arrays from long-format (account, territory, cost) pairs, cheapest first,
    keeping at most `width` per account (None: all)."""
    order = np.lexsort((pair_territory, pair_cost, pair_account))
    a, t, c = pair_account[order], pair_territory[order], pair_cost[order]
    counts = np.bincount(a, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(a)) - starts[a]
    cap = int(counts.max()) if width is None else width
    keep = rank < cap
    cols = int(min(counts.max(), cap))
    cand = np.full((n, cols), -1, dtype=np.int64)
    cost = np.full((n, cols), np.inf)
    cand[a[keep], rank[keep]] = t[keep]
    cost[a[keep], rank[keep]] = c[keep]
    return cand, cost


def random_candidates(
    n: int, k: int, width: int, rng: np.random.Generator, must: list[np.ndarray]
) -> np.ndarray:
    """Without geography: all territories when k is small, else a seeded random `width` per account."""
    if k <= max(width, 1) * 2:
        cand = np.broadcast_to(np.arange(k), (n, k)).copy()
    else:
        cand = np.argsort(rng.random((n, k)), axis=1)[:, :width]
    for extra in must:
        cand = _merge_extra(cand, extra)
    return cand


def solve_allocation_lp(
    cand: np.ndarray,
    cost: np.ndarray,
    weights: np.ndarray,
    k: int,
    fixed_loads: np.ndarray,
    band: float,
    tolerance: float,
    balance_price: float,
    slack_price: float,
    time_limit: float,
) -> tuple[np.ndarray, bool]:
    """The transportation LP over candidate arcs; returns the (n, width) share of each arc and whether
    HiGHS stopped at `time_limit` (a feasible but not optimal vertex).

    `weights`: (n, m) measures already divided by the target mean load, so each row band is
    [1 - band, 1 + band] minus what fixed accounts already bring (`fixed_loads`, (k, m)).
    """
    import highspy

    n, width = cand.shape
    m = weights.shape[1]
    valid = cand >= 0
    ai, aj = np.nonzero(valid)
    t = cand[ai, aj]
    nv = len(ai)
    # column j of the matrix for arc (i, t): a 1 in account row i and w_i[q] in row n + t*m + q
    rows = np.concatenate([ai[:, None], n + t[:, None] * m + np.arange(m)[None, :]], axis=1)
    vals = np.concatenate([np.ones((nv, 1)), weights[ai]], axis=1)
    # elastic bands: per (t, q) slacks that add or remove load, cheap up to the tolerance (so a high
    # disruption weight can keep a plan that is within tolerance) and prohibitive beyond it
    n_rows = n + k * m
    inner = max(tolerance - band, 0.0)
    slack_rows = np.repeat(n + np.arange(k * m), 4)
    slack_vals = np.tile([1.0, -1.0, 1.0, -1.0], k * m)
    start = np.concatenate([np.arange(nv) * (m + 1), nv * (m + 1) + np.arange(4 * k * m + 1)])
    index = np.concatenate([rows.ravel(), slack_rows]).astype(np.int32)
    value = np.concatenate([vals.ravel(), slack_vals])

    lp = highspy.HighsLp()
    lp.num_col_ = nv + 4 * k * m
    lp.num_row_ = n_rows
    lp.col_cost_ = np.concatenate([cost[ai, aj], np.tile([balance_price] * 2 + [slack_price] * 2, k * m)])
    lp.col_lower_ = np.zeros(lp.num_col_)
    lp.col_upper_ = np.concatenate([np.ones(nv), np.tile([inner, inner, np.inf, np.inf], k * m)])
    free = (fixed_loads).ravel()
    lp.row_lower_ = np.concatenate([np.ones(n), (1.0 - band) - free])
    lp.row_upper_ = np.concatenate([np.ones(n), (1.0 + band) - free])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(max(time_limit, 1.0)))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal and h.getInfo().primal_solution_status != 2:
        raise RuntimeError(f"HiGHS could not solve the allocation LP: {h.modelStatusToString(status)}")
    x = np.asarray(h.getSolution().col_value)[:nv]
    share = np.zeros((n, width))
    share[ai, aj] = x
    return share, status == highspy.HighsModelStatus.kTimeLimit


def solve_allocation_flow(
    cand: np.ndarray,
    cost: np.ndarray,
    weight: np.ndarray,
    k: int,
    fixed_load: np.ndarray,
    band: float,
    tolerance: float,
    time_limit: float,
) -> np.ndarray:
    """The single-measure allocation as a min-cost flow (OR-Tools): much faster than the LP.

    Accounts supply their (integer-scaled) weight; an arc per candidate carries it to a territory at
    the account's cost spread over its units; each territory drains into the sink through an arc of
    capacity (1 - tolerance) x mean at a prohibitive negative cost (fill it first), then tiers up to the
    band (a moderate reward), inside the band (free), up to the tolerance (a moderate price) and beyond
    (prohibitive): an elastic band that a high disruption weight may leave unused. Accounts with zero
    weight do not touch balance and simply take their cheapest candidate.
    """
    from ortools.graph.python import min_cost_flow

    del time_limit  # min-cost flow on these sizes takes well under a second
    n, width = cand.shape
    units_total = 20_000_000
    supply = np.rint(weight / max(float(weight.sum() + fixed_load.sum()), 1e-12) * units_total).astype(
        np.int64
    )
    mean_units = units_total / k
    fixed_units = np.rint(fixed_load / max(float(weight.sum() + fixed_load.sum()), 1e-12) * units_total)
    share = np.zeros((n, width))
    zero = supply <= 0
    if zero.any():
        # (padding slots, cand -1, must never win: their cost is not a real arc's)
        share[np.flatnonzero(zero), np.argmin(np.where(cand[zero] >= 0, cost[zero], np.inf), axis=1)] = 1.0
    idx = np.flatnonzero(~zero)
    if idx.size == 0:
        return share
    valid = cand[idx] >= 0
    ai, aj = np.nonzero(valid)
    acc = idx[ai]
    typical = float(np.median(supply[idx]))
    unit_cost = np.rint(cost[acc, aj] * 10_000.0 * typical / supply[acc])
    unit_cost = np.minimum(unit_cost, 10_000_000).astype(np.int64)
    terr_node = idx.size + np.arange(k)
    sink = idx.size + k
    levels = np.array([1 - tolerance, 1 - band, 1 + band, 1 + tolerance])
    breaks = np.maximum(np.floor(levels[None, :] * mean_units - fixed_units[:, None]), 0)
    breaks = np.maximum.accumulate(np.column_stack([np.zeros(k), breaks]), axis=1).astype(np.int64)
    total = int(supply[idx].sum())
    huge, moderate = 1_000_000_000, 1_000_000  # per unit; an account arc costs about 10,000 per unit
    tails = np.concatenate([ai, np.tile(terr_node, 5)])
    heads = np.concatenate([terr_node[cand[acc, aj]], np.full(5 * k, sink)])
    caps = np.concatenate([supply[acc], *np.diff(breaks, axis=1).T, np.full(k, total)])
    tier = [-huge, -moderate, 0, moderate, huge]
    costs = np.concatenate([unit_cost, *[np.full(k, c, dtype=np.int64) for c in tier]])
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64), costs.astype(np.int64)
    )
    nodes = np.concatenate([np.arange(idx.size), [sink]]).astype(np.int32)
    flow.set_nodes_supplies(nodes, np.concatenate([supply[idx], [-total]]).astype(np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"OR-Tools min-cost flow could not allocate the accounts (status {status})")
    f = flow.flows(arcs[: len(ai)])
    share[acc, aj] = f / supply[acc]
    return share


def _quiet_highs():
    """A HiGHS instance that prints nothing: highspy writes its banner to the process's stdout when the
    object is built, before any option can be set, so stdout is pointed at /dev/null for that moment."""
    import ctypes
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    h.setOptionValue("output_flag", False)
    return h


def _excess(dev: np.ndarray, target: float) -> np.ndarray:
    """Squared excess of |deviation| over the target band (0 inside the band)."""
    return np.maximum(np.abs(dev) - target, 0.0) ** 2


def _best_swap(
    t: int,
    mine: np.ndarray,
    theirs: np.ndarray,
    cell: np.ndarray,
    weights: np.ndarray,
    cand: np.ndarray,
    cost: np.ndarray,
    loads: np.ndarray,
    cur_cost: np.ndarray,
    target: float,
    travel_scale: float,
) -> tuple[int, int, int, float, float] | None:
    """The exchange of one account of territory t with one of a neighbouring territory u (each a
    candidate of the other's territory) that best reduces the squared excess of t and u over the
    target on every measure; among the swaps achieving half the best reduction, the one adding least
    travel. `mine`: the movable accounts of t; `theirs`: the movable accounts of other territories that
    have t among their candidates (both ascending). Vectorised over all pairs: about (accounts of t) x
    (accounts that may join t)."""
    if mine.size == 0 or theirs.size == 0:
        return None
    # on large pools keep the pairs search small: the accounts cheapest to move each way
    cap = 400
    if mine.size > cap:
        leave = np.where((cand[mine] >= 0) & (cand[mine] != t), cost[mine], np.inf).min(axis=1)
        mine = mine[np.argsort(leave - cur_cost[mine], kind="stable")[:cap]]
    if theirs.size > cap:
        join = np.where(cand[theirs] == t, cost[theirs], np.inf).min(axis=1)
        theirs = theirs[np.argsort(join - cur_cost[theirs], kind="stable")[:cap]]
    u = cell[theirs]
    # hit[a, slot, b]: account a (of t) may join the territory of b
    hit = cand[mine][:, :, None] == u[None, None, :]
    can = hit.any(axis=1)
    if not can.any():
        return None
    ia, ib = np.nonzero(can)
    slot = np.argmax(hit[ia, :, ib], axis=1)
    a, b, tu = mine[ia], theirs[ib], u[ib]
    cost_a = cost[a, slot]
    cost_b = cost[b, np.argmax(cand[b] == t, axis=1)]
    diff = weights[b] - weights[a]  # what t gains, u loses
    before = _excess(loads[t] - 1, target).sum() + _excess(loads[tu] - 1, target).sum(1)
    after = _excess(loads[t] + diff - 1, target).sum(1) + _excess(loads[tu] - diff - 1, target).sum(1)
    gain = before - after
    if not gain.max() > 1e-15:
        return None
    extra = (cost_a + cost_b - cur_cost[a] - cur_cost[b]) / travel_scale
    best = int(np.argmin(np.where(gain >= 0.5 * gain.max(), extra, np.inf)))
    return int(a[best]), int(b[best]), int(tu[best]), float(cost_a[best]), float(cost_b[best])


class FailedAttempts:
    """The (territory, measure) pairs of repair_balance where no move nor exchange helped, and when to
    try them again.

    Such an attempt reads only the loads of the territory, of its accounts' candidates and of the
    territories holding accounts that may join it (`watched`), and the accounts on those arcs; it fails
    again until a move touches one of those territories. So a move wakes the attempts watching the two
    territories it touched, not all of them: the same moves in the same order as retrying every failure
    after every move, which made the pass quadratic (72,000 failed attempts for 3,000 moves in a
    2,755-territory pool)."""

    def __init__(self) -> None:
        self.tried: set[tuple[int, int]] = set()
        self._watchers: dict[int, set[tuple[int, int]]] = {}

    def failed(self, key: tuple[int, int], watched: list[int]) -> None:
        self.tried.add(key)
        for x in watched:
            self._watchers.setdefault(x, set()).add(key)

    def touched(self, *territories: int) -> None:
        for x in territories:
            self.tried.difference_update(self._watchers.pop(x, ()))


def repair_balance(
    cell: np.ndarray,
    weights: np.ndarray,
    cand: np.ndarray,
    cost: np.ndarray,
    movable: np.ndarray,
    k: int,
    fixed_loads: np.ndarray,
    target: float,
    max_moves: int,
    deadline: float,
) -> tuple[np.ndarray, int]:
    """Move single accounts along candidate arcs until every normalised load is within 1 ± target.

    One iteration per move (bounded), never per account: each step scores all moves touching the worst
    (territory, measure) at once.
    """
    cell = cell.copy()
    n, width = cand.shape
    loads = fixed_loads + np.stack(
        [np.bincount(cell, weights=weights[:, q], minlength=k) for q in range(weights.shape[1])], axis=1
    )
    cur_cost = cost[np.arange(n), np.argmax(cand == cell[:, None], axis=1)]
    travel_scale = float(np.nanmedian(np.where(np.isfinite(cost), cost, np.nan))) or 1.0
    # arcs into each territory, for moves that fill an under-loaded one; the same index finds a
    # territory's accounts (an account sits in one of its candidates, strays aside) in time
    # proportional to the arcs into it, not to the pool
    ai, aj = np.nonzero((cand >= 0) & movable[:, None])
    into = cand[ai, aj]
    order = np.argsort(into, kind="stable")
    into_start = np.searchsorted(into[order], np.arange(k + 1))
    arc_i, arc_j = ai[order], aj[order]
    stray = np.flatnonzero(movable & ~(cand == cell[:, None]).any(axis=1))

    def members(t: int) -> tuple[np.ndarray, np.ndarray]:
        """The movable accounts in t, and those elsewhere that may join t (each ascending)."""
        near = arc_i[into_start[t] : into_start[t + 1]]
        inside = cell[near] == t
        mine = near[inside]
        if stray.size:
            mine = np.concatenate([mine, stray[cell[stray] == t]])
        return np.unique(mine), np.unique(near[~inside])

    moves = 0
    failures = FailedAttempts()
    tried = failures.tried
    while moves < max_moves and time.perf_counter() < deadline:
        dev = loads - 1.0
        viol = np.abs(dev) - target
        viol_flat = viol.ravel().copy()
        for t_q in tried:
            viol_flat[t_q[0] * weights.shape[1] + t_q[1]] = -np.inf
        worst = int(np.argmax(viol_flat))
        if viol_flat[worst] <= 1e-12:
            break
        t, q = divmod(worst, weights.shape[1])
        mine, theirs = members(t)
        if dev[t, q] > 0:  # too heavy: move one of its accounts out along any candidate arc
            rows = mine
            src = np.full((len(rows), width), t)
            dst = cand[rows]
            acc = np.repeat(rows[:, None], width, axis=1)
            arc_cost = cost[rows]
        else:  # too light: pull in an account that may join it
            sl = slice(into_start[t], into_start[t + 1])
            ii, jj = arc_i[sl], arc_j[sl]
            keep = cell[ii] != t
            ii, jj = ii[keep], jj[keep]
            acc = ii[:, None]
            src = cell[ii][:, None]
            dst = np.full_like(src, t)
            arc_cost = cost[ii, jj][:, None]
        ok = (dst >= 0) & (dst != src)
        gain = np.zeros(0)
        if ok.any():
            a, s, d, c = acc[ok], src[ok], dst[ok], arc_cost[ok]
            w = weights[a]
            before = _excess(loads[s] - 1, target).sum(1) + _excess(loads[d] - 1, target).sum(1)
            after = _excess(loads[s] - w - 1, target).sum(1) + _excess(loads[d] + w - 1, target).sum(1)
            extra_travel = (c - cur_cost[a]) / travel_scale
            gain = before - after
        if gain.size and gain.max() > 1e-15:
            # among the moves that achieve at least half the best reduction, the one adding least travel
            good = gain >= 0.5 * gain.max()
            best = int(np.argmin(np.where(good, extra_travel, np.inf)))
            i, s_b, d_b = int(a[best]), int(s[best]), int(d[best])
            cell[i] = d_b
            loads[s_b] -= weights[i]
            loads[d_b] += weights[i]
            cur_cost[i] = c[best]
        else:
            # no single move helps (with several measures, moving one account out often overloads a
            # neighbour on another measure): exchange a pair of accounts with a neighbouring territory
            swap = _best_swap(
                t, mine, theirs, cell, weights, cand, cost, loads, cur_cost, target, travel_scale
            )
            if swap is None:
                watched = np.concatenate([[t], cand[mine].ravel(), cell[theirs]])
                failures.failed((t, q), np.unique(watched[watched >= 0]).tolist())
                continue
            i, j, u, ci, cj = swap
            cell[i], cell[j] = u, t
            loads[t] += weights[j] - weights[i]
            loads[u] += weights[i] - weights[j]
            cur_cost[i], cur_cost[j] = ci, cj
            s_b, d_b = t, u
        moves += 1
        failures.touched(s_b, d_b)
    return cell, moves


def _pair_blocks(pa: np.ndarray, pb: np.ndarray, npairs: int) -> tuple[np.ndarray, np.ndarray]:
    """All (a, b) index combinations with the same block id: a from block pa, b from block pb (both
    sorted by block). Vectorised cartesian product per block."""
    cb = np.bincount(pb, minlength=npairs)
    starts_b = np.concatenate([[0], np.cumsum(cb)[:-1]])
    m = cb[pa]
    a_rep = np.repeat(np.arange(len(pa)), m)
    offset = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    return a_rep, starts_b[pa[a_rep]] + offset


def improve_travel(
    cell: np.ndarray,
    weights: np.ndarray,
    cand: np.ndarray,
    arc: np.ndarray,
    movable: np.ndarray,
    k: int,
    target: float,
    deadline: float,
    per_pair: int = 12,
    max_rounds: int = 200,
) -> tuple[np.ndarray, int]:
    """Local search after balancing: moves and exchanges of accounts between neighbouring territories
    that lower the arc cost (travel + disruption) without pushing any measure further outside 1 ± target.

    The flow/LP optimum is computed for the centres of its round and then rounded and repaired; this pass
    removes what that leaves behind: accounts nearer another territory than their own (overlap) and
    stray accounts that stretch a territory's diameter. Each round scores every single move and, per
    pair of neighbouring territories, the exchanges among the `per_pair` accounts keenest to go each way,
    then applies the best non-conflicting ones (each territory touched once per round, so the balance
    checks stay exact). Rounds, not accounts, are the loop.
    """
    cell = cell.copy()
    n, m = weights.shape
    loads = np.stack([np.bincount(cell, weights=weights[:, q], minlength=k) for q in range(m)], axis=1)
    valid = (cand >= 0) & np.isfinite(arc)
    moves = 0
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        here = cand == cell[:, None]
        cur = np.where(here, arc, np.inf).min(axis=1)
        desire = np.where(valid & ~here & movable[:, None], cur[:, None] - arc, -np.inf)
        ai, aj = np.nonzero(np.isfinite(desire))
        src, dst, want = cell[ai], cand[ai, aj], desire[ai, aj]
        old = _excess(loads - 1, target).sum(axis=1)
        # single moves
        single = want > 1e-9
        s_a, s_t, s_u, s_g = ai[single], src[single], dst[single], want[single]
        ws = weights[s_a]
        ok = (
            _excess(loads[s_t] - ws - 1, target).sum(1) + _excess(loads[s_u] + ws - 1, target).sum(1)
            <= old[s_t] + old[s_u] + 1e-12
        )
        s_a, s_t, s_u, s_g = s_a[ok], s_t[ok], s_u[ok], s_g[ok]
        # exchanges: per directed pair (t -> u) the accounts keenest to go, paired with those of (u -> t)
        key = src * k + dst
        order = np.lexsort((-want, key))
        ks = key[order]
        first = np.concatenate([[0], np.flatnonzero(np.diff(ks)) + 1])
        rank = np.arange(len(ks)) - np.repeat(first, np.diff(np.concatenate([first, [len(ks)]])))
        top = order[rank < per_pair]
        t_, u_ = src[top], dst[top]
        fwd = top[t_ < u_]
        bwd = top[t_ > u_]
        lo = np.minimum(src, dst)
        hi = np.maximum(src, dst)
        pid_f, pid_b = lo[fwd] * k + hi[fwd], lo[bwd] * k + hi[bwd]
        common = np.intersect1d(pid_f, pid_b)
        keep_f, keep_b = np.isin(pid_f, common), np.isin(pid_b, common)
        fwd, bwd = fwd[keep_f], bwd[keep_b]
        bf = np.searchsorted(common, lo[fwd] * k + hi[fwd])
        bb = np.searchsorted(common, lo[bwd] * k + hi[bwd])
        of, ob = np.argsort(bf, kind="stable"), np.argsort(bb, kind="stable")
        fwd, bf, bwd, bb = fwd[of], bf[of], bwd[ob], bb[ob]
        ia, ib = _pair_blocks(bf, bb, len(common))
        x_a, x_b = ai[fwd[ia]], ai[bwd[ib]]
        x_t, x_u = src[fwd[ia]], dst[fwd[ia]]
        x_g = want[fwd[ia]] + want[bwd[ib]]
        good = x_g > 1e-9
        x_a, x_b, x_t, x_u, x_g = x_a[good], x_b[good], x_t[good], x_u[good], x_g[good]
        diff = weights[x_b] - weights[x_a]
        ok = (
            _excess(loads[x_t] + diff - 1, target).sum(1) + _excess(loads[x_u] - diff - 1, target).sum(1)
            <= old[x_t] + old[x_u] + 1e-12
        )
        x_a, x_b, x_t, x_u, x_g = x_a[ok], x_b[ok], x_t[ok], x_u[ok], x_g[ok]
        # best first, each territory at most once per round
        gain = np.concatenate([s_g, x_g])
        if gain.size == 0:
            break
        cand_a = np.concatenate([s_a, x_a])
        cand_b = np.concatenate([np.full(len(s_a), -1), x_b])
        cand_t = np.concatenate([s_t, x_t])
        cand_u = np.concatenate([s_u, x_u])
        used = np.zeros(k, dtype=bool)
        applied = 0
        for e in np.argsort(-gain, kind="stable")[: 50 * k]:
            t, u = cand_t[e], cand_u[e]
            if used[t] or used[u]:
                continue
            used[t] = used[u] = True
            a, b = cand_a[e], cand_b[e]
            cell[a] = u
            loads[t] -= weights[a]
            loads[u] += weights[a]
            if b >= 0:
                cell[b] = t
                loads[u] -= weights[b]
                loads[t] += weights[b]
            applied += 1
        moves += applied
        if applied == 0:
            break
    return cell, moves


def solve_pool(
    weights: np.ndarray,
    k: int,
    opts: SolverOptions,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    centre_lat: np.ndarray | None = None,
    centre_lon: np.ndarray | None = None,
    fixed_centres: bool = False,
    matrix: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    current: np.ndarray | None = None,
    locked: np.ndarray | None = None,
    movable: np.ndarray | None = None,
) -> PoolSolution:
    """Assign n accounts to k territories balancing every column of `weights` (n, m).

    Geography is one of: lat/lon with starting centres (moved unless `fixed_centres`), a travel
    `matrix` of (account index, territory index, cost) pairs, or nothing (balance only).
    `current`/`locked`: territory index per account or -1. `movable`: False keeps an account at
    `current` (quarterly mode). Deterministic for fixed inputs and seed.
    """
    # Every loop below stops on its own convergence test or a fixed count, so the result depends only on
    # the inputs and the seed. The wall-clock limit is a safety net for a pool far larger than its
    # limit was set for: when it cuts a step short, the solution says so (time_limit_hit).
    deadline = time.perf_counter() + opts.time_limit_seconds
    hit = False

    def out_of_time() -> bool:
        nonlocal hit
        hit = hit or time.perf_counter() > deadline
        return hit

    n, m = weights.shape
    current = np.full(n, -1) if current is None else np.asarray(current, dtype=np.int64)
    locked = np.full(n, -1) if locked is None else np.asarray(locked, dtype=np.int64)
    movable = np.ones(n, dtype=bool) if movable is None else np.asarray(movable, dtype=bool)
    pinned = np.where(locked >= 0, locked, np.where(~movable, current, -1))
    is_fixed = pinned >= 0
    free_idx = np.flatnonzero(~is_fixed)

    totals = weights.sum(axis=0)
    mean_load = np.where(totals > 0, totals / k, 1.0)
    w = weights / mean_load  # a territory's normalised load is 1.0 at the mean
    fixed_loads = np.stack(
        [np.bincount(pinned[is_fixed], weights=w[is_fixed, q], minlength=k) for q in range(m)], axis=1
    )
    # moving an account costs in proportion to its primary measure: a big relationship is more
    # disruptive to hand over than a small one (and the optimiser cannot cheat by moving few big ones)
    primary_mean = weights[:, 0].mean()
    size = weights[:, 0] / primary_mean if primary_mean > 0 else np.ones(n)
    rng = np.random.default_rng(opts.seed)
    geo = lat is not None and matrix is None
    c_lat = None if centre_lat is None else np.asarray(centre_lat, dtype=float).copy()
    c_lon = None if centre_lon is None else np.asarray(centre_lon, dtype=float).copy()

    def candidates(also: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        must = [current, locked] + ([also] if also is not None else [])
        if matrix is not None:
            cand, cost = matrix_candidates(n, *matrix, None)
            if (locked >= 0).any():
                has = (cand == locked[:, None]).any(axis=1) | (locked < 0)
                if not has.all():
                    raise ValueError("a locked territory has no travel-matrix entry for its account")
            return cand, cost
        if geo:
            return geo_candidates(lat, lon, c_lat, c_lon, opts.candidates, must)
        cand = random_candidates(n, k, opts.candidates, rng, must)
        return cand, np.where(cand >= 0, 0.0, np.inf)

    def arc_cost(cand: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Travel over the typical arc's, plus the disruption of leaving the current territory
        (padding slots, cand -1, stay infinite)."""
        finite = cost[np.isfinite(cost)]
        scale = float(np.median(finite[finite > 0])) if (finite > 0).any() else 1.0
        arc = np.where(np.isfinite(cost), cost / scale, np.inf)
        return arc + (opts.disruption_weight * size)[:, None] * (
            (cand != current[:, None]) & (current[:, None] >= 0)
        )

    def allocate(cand, cost, all_measures: bool):
        """One allocation over the candidate arcs: the min-cost flow on the primary measure, or the LP
        on every measure. Returns the rounded cell and which accounts the allocation split."""
        nonlocal hit
        arc = arc_cost(cand, cost)
        if not geo and matrix is None:
            arc = arc + 1e-4 * rng.random(arc.shape)  # seeded tie-break: a deterministic vertex
        if not all_measures or m == 1:
            share = solve_allocation_flow(
                cand[free_idx],
                arc[free_idx],
                w[free_idx, 0],
                k,
                fixed_loads[:, 0],
                opts.target / 2,
                opts.tolerance,
                0,
            )
        else:
            share, cut = solve_allocation_lp(
                cand[free_idx],
                arc[free_idx],
                w[free_idx],
                k,
                fixed_loads,
                opts.target / 2,
                opts.tolerance,
                100.0 * (n / k + 1),  # inside the tolerance: balance is worth ~100 typical moves
                100.0 * (n / k + 1) * (1.0 + opts.disruption_weight) * 100.0,  # beyond it: prohibitive
                deadline - time.perf_counter(),
            )
            hit = hit or cut
        new_cell = np.where(is_fixed, pinned, -1)
        new_cell[free_idx] = cand[free_idx, np.argmax(share, axis=1)]
        split = np.zeros(n, dtype=bool)
        split[free_idx] = share.max(axis=1) < 1 - 1e-6
        return new_cell, split

    cell = np.where(is_fixed, pinned, -1)
    lp_seconds, iterations = 0.0, 0
    single = not geo or fixed_centres
    rounds = 1 if single else opts.max_iterations
    for round_no in range(rounds):
        # free centres: locate with the fast flow on the primary measure; all measures once settled
        cand, cost = candidates()
        if round_no == 0 and opts.location_arcs_budget:
            arcs = max(int((cand[free_idx] >= 0).sum()), 1)
            rounds = min(rounds, max(opts.location_arcs_budget // arcs, 1))
        ls = time.perf_counter()
        new_cell, split = allocate(cand, cost, all_measures=single)
        lp_seconds += time.perf_counter() - ls
        iterations += 1
        changed = (new_cell != cell).mean()
        cell = new_cell
        if single:
            break
        n_lat, n_lon = centroids(lat, lon, cell, k)
        empty = np.isnan(n_lat)
        n_lat[empty], n_lon[empty] = c_lat[empty], c_lon[empty]
        shift = haversine_km(c_lat, c_lon, n_lat, n_lon)
        c_lat, c_lon = n_lat, n_lon
        if changed < 0.002 or shift.max() < 0.5 or round_no + 1 >= rounds or out_of_time():
            break
    if not single and m > 1:
        # several measures: LP rounds from the settled centres, moving the centres between rounds
        for _ in range(rounds):
            if out_of_time():
                break
            cand, cost = candidates(also=cell)
            ls = time.perf_counter()
            new_cell, split = allocate(cand, cost, all_measures=True)
            lp_seconds += time.perf_counter() - ls
            iterations += 1
            changed = (new_cell != cell).mean()
            cell = new_cell
            n_lat, n_lon = centroids(lat, lon, cell, k)
            empty = np.isnan(n_lat)
            n_lat[empty], n_lon[empty] = c_lat[empty], c_lon[empty]
            shift = haversine_km(c_lat, c_lon, n_lat, n_lon)
            c_lat, c_lon = n_lat, n_lon
            if changed < 0.002 or shift.max() < 0.5:
                break

    if geo and not fixed_centres:  # travel to the final centres
        cand, cost = candidates(also=cell)
    cost = cost if matrix is not None or geo else np.where(cand >= 0, 0.0, np.inf)
    # repair in two passes: first into the tolerance moving anything movable, then towards the target
    # moving only accounts whose move costs no disruption (already moved, new, no weight set) or that
    # the allocation itself split between territories. Both passes are bounded by their move count; the
    # clock only stops the target pass (the tolerance is a requirement).
    cell, moves = repair_balance(
        cell, w, cand, cost, ~is_fixed, k, np.zeros((k, m)), opts.tolerance, 20 * k + n // 10, np.inf
    )
    free_to_move = ~is_fixed & ((opts.disruption_weight == 0) | (current < 0) | (cell != current) | split)
    cell, more = repair_balance(
        cell, w, cand, cost, free_to_move, k, np.zeros((k, m)), opts.target, 20 * k + n // 10, deadline
    )
    moves += more
    out_of_time()
    if geo or matrix is not None:
        # polish: moves and exchanges that shorten travel (or undo needless disruption) while every
        # measure stays within the target, until no exchange helps (or its round limit)
        cell, polished = improve_travel(
            cell, w, cand, arc_cost(cand, cost), ~is_fixed, k, opts.target, deadline
        )
        moves += polished
        out_of_time()
    if matrix is not None:
        pos = np.argmax(cand == cell[:, None], axis=1)
        travel = cost[np.arange(n), pos]
    elif geo:
        travel = haversine_km(lat, lon, c_lat[cell], c_lon[cell])
    else:
        travel = np.full(n, np.nan)
    return PoolSolution(cell, c_lat, c_lon, travel, iterations, lp_seconds, moves, hit)
