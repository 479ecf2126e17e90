"""Territory pools solved in worker processes (planning.territories.solve_pools) give the in-process design."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from test_territories import _accounts

import planning.territories as territories
from planning.territories import SolverOptions, TerritoryDesignError, assign_new_accounts, design_territories

COUNTS = {"field": 10, "inside": 6, "key_account_manager": 2}


@pytest.fixture
def workers(monkeypatch) -> list[str]:
    """Pools of 100+ accounts go to workers; returns the labels of the pools that did."""
    sent: list[str] = []

    class Recorded(territories._PoolWorker):
        def __init__(self, base, job) -> None:
            sent.append(job[3]["label"])
            super().__init__(base, job)

    monkeypatch.setattr(territories, "PROCESS_MIN_ACCOUNTS", 100)
    monkeypatch.setattr(territories, "_PoolWorker", Recorded)
    return sent


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.assignment, b.assignment)
    pd.testing.assert_frame_equal(a.territories, b.territories)
    assert a.metrics == b.metrics


def test_a_pool_solved_by_a_worker_process_gives_the_in_process_design(workers) -> None:
    accounts = _accounts(3000)
    alone = design_territories(accounts, COUNTS, ["field"], 0.05, options=SolverOptions(processes=1))
    assert workers == []
    side_by_side = design_territories(accounts, COUNTS, ["field"], 0.05, options=SolverOptions(processes=2))
    assert workers == ["field pool"]  # the geographic pool costs most: it is the one sent away
    _same(side_by_side, alone)
    assert side_by_side.metrics["territories_outside_tolerance"] == 0


def test_three_processes_send_the_two_costliest_pools_away(workers) -> None:
    accounts = _accounts(3000)
    alone = design_territories(accounts, COUNTS, ["field"], 0.05, options=SolverOptions(processes=1))
    spread = design_territories(accounts, COUNTS, ["field"], 0.05, options=SolverOptions(processes=3))
    assert workers == ["field pool", "inside pool"]  # the 150-odd KAM accounts stay here
    _same(spread, alone)


def test_quarterly_placement_in_a_worker_gives_the_in_process_placement(workers) -> None:
    accounts = _accounts(3000)
    yearly = design_territories(accounts, COUNTS, ["field"], 0.05)
    previous = yearly.assignment.iloc[::3]  # two accounts in three are new this quarter
    opts = SolverOptions(processes=1)
    alone = assign_new_accounts(accounts, previous, ["field"], 0.05, options=opts)
    workers.clear()
    side_by_side = assign_new_accounts(
        accounts, previous, ["field"], 0.05, options=replace(opts, processes=2)
    )
    assert workers == ["field pool"]
    _same(side_by_side, alone)


def test_a_design_error_in_a_worker_is_raised_as_in_process(workers) -> None:
    accounts = _accounts(3000)
    first_field = accounts.index[accounts["coverage_role"] == "field"][0]
    accounts.loc[first_field, "lat"] = np.nan
    with pytest.raises(
        TerritoryDesignError, match="field pool: the pool is geographic but 1 accounts lack lat/lon"
    ):
        design_territories(accounts, COUNTS, ["field"], 0.05, options=SolverOptions(processes=2))
    assert workers == ["field pool"]


def test_a_worker_that_cannot_run_says_how_to_design_in_process(workers, monkeypatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(
        RuntimeError, match=r"worker process failed \(exit code 1\).*territories.processes: 1"
    ):
        design_territories(_accounts(3000), COUNTS, ["field"], 0.05, options=SolverOptions(processes=2))
