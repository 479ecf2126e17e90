"""The territory engine on large pools (planning/territories_engine.py): repair_balance retries a failed
(territory, measure) only when a move touched a territory the attempt read, which gives the same moves in
the same order as retrying every failure after every move, with far fewer attempts (FailedAttempts); and
the location rounds stop on a budget of candidate arcs, a count that depends on the data, not the clock."""

import numpy as np
import pytest

import planning.territories_engine as engine


class RetryEverything(engine.FailedAttempts):
    """The rule before: every failed attempt is tried again after any move."""

    def touched(self, *territories: int) -> None:
        self.tried.clear()


def _lumpy_pool(n: int, k: int, measures: int, seed: int):
    """Accounts in a square with a few very heavy ones, so that some territories cannot reach a tight
    target and their attempts fail; cells start at each account's nearest centre."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(38, 42, n), rng.uniform(-100, -95, n)
    c_lat, c_lon = rng.uniform(38, 42, k), rng.uniform(-100, -95, k)
    cand, cost = engine.geo_candidates(lat, lon, c_lat, c_lon, 6, [])
    weights = rng.gamma(0.6, 1.0, (n, measures))
    weights /= weights.sum(axis=0) / k  # a territory's mean load is 1.0
    cell = cand[np.arange(n), np.argmin(np.where(cand >= 0, cost, np.inf), axis=1)]
    return cell, weights, cand, cost, k


def _repair(monkeypatch, book, pool, target):
    cell, weights, cand, cost, k = pool
    calls = []
    best_swap = engine._best_swap

    def counted(*args):
        calls.append(args[0])
        return best_swap(*args)

    monkeypatch.setattr(engine, "FailedAttempts", book)
    monkeypatch.setattr(engine, "_best_swap", counted)
    out, moves = engine.repair_balance(
        cell, weights, cand, cost, np.ones(len(cell), bool), k, np.zeros((k, weights.shape[1])),
        target, 600, np.inf,
    )  # fmt: skip
    monkeypatch.undo()
    return out, moves, len(calls)


@pytest.mark.parametrize(("measures", "seed"), [(1, 5), (2, 2), (2, 5), (3, 2)])
def test_waking_only_the_watchers_gives_the_same_moves_with_fewer_attempts(monkeypatch, measures, seed):
    pool = _lumpy_pool(1_500, 30, measures, seed)
    cell, moves, attempts = _repair(monkeypatch, engine.FailedAttempts, pool, 0.002)
    cell_all, moves_all, attempts_all = _repair(monkeypatch, RetryEverything, pool, 0.002)
    assert moves > 50  # the instance does make the pass work
    assert attempts_all > attempts  # ... and some attempts fail and are retried
    np.testing.assert_array_equal(cell, cell_all)
    assert moves == moves_all


def test_a_failed_attempt_is_woken_by_a_move_next_to_it_only():
    book = engine.FailedAttempts()
    book.failed((3, 0), [3, 4, 7])
    book.failed((5, 1), [5, 6])
    book.touched(8, 9)  # far from both: both stay failed
    assert book.tried == {(3, 0), (5, 1)}
    book.touched(9, 7)  # a territory (3, 0) read
    assert book.tried == {(5, 1)}
    book.failed((3, 0), [3, 2])
    book.touched(7)  # 7 no longer watched by (3, 0)
    assert book.tried == {(5, 1), (3, 0)}


def test_the_location_budget_caps_the_rounds_by_a_count_of_arcs_not_the_clock():
    rng = np.random.default_rng(7)
    n, k = 4_000, 40
    lat, lon = rng.uniform(38, 42, n), rng.uniform(-100, -95, n)
    weights = rng.gamma(2.0, 8.0, (n, 1))
    c_lat, c_lon = lat[:k].copy(), lon[:k].copy()
    opts = engine.SolverOptions(max_iterations=8, candidates=6, time_limit_seconds=600)
    free = engine.solve_pool(weights, k, opts, lat, lon, c_lat, c_lon)
    assert free.iterations > 3  # the instance needs several rounds to settle
    cand, _ = engine.geo_candidates(lat, lon, c_lat, c_lon, 6, [])
    arcs = int((cand >= 0).sum())  # what the first round allocates over
    budget = engine.SolverOptions(**{**opts.__dict__, "location_arcs_budget": 2 * arcs + arcs // 2})
    capped = engine.solve_pool(weights, k, budget, lat, lon, c_lat, c_lon)
    assert capped.iterations == 2 and not capped.time_limit_hit
    np.testing.assert_array_equal(
        capped.cell, engine.solve_pool(weights, k, budget, lat, lon, c_lat, c_lon).cell
    )
    loads = np.bincount(capped.cell, weights=weights[:, 0], minlength=k) / (weights.sum() / k)
    assert np.abs(loads - 1).max() <= opts.tolerance + 1e-9  # fewer rounds, still balanced
    # a budget the pool never reaches changes nothing
    ample = engine.SolverOptions(**{**opts.__dict__, "location_arcs_budget": 100 * arcs})
    np.testing.assert_array_equal(
        engine.solve_pool(weights, k, ample, lat, lon, c_lat, c_lon).cell, free.cell
    )
