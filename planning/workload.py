"""Selling time each account needs, and the headcount that time adds up to.

Service assumptions follow the territory-design seed: per size bucket and activity, events a year ×
hours per event; each coverage role delivers them with its own factor (inside sales does not visit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planning.config import ROLES, SIZE_BUCKETS, WorkloadConfig


class WorkloadInputError(ValueError):
    """Accounts carry a size bucket or role the service table does not know."""


def account_workload(accounts: pd.DataFrame, cfg: WorkloadConfig) -> pd.DataFrame:
    """Hours a year per account and activity: events(bucket) × hours(bucket) × factor(role).

    `accounts` needs account_id, size_bucket and coverage_role; returns account_id, coverage_role,
    one `hours_<activity>` column per activity and `workload_hours`, their sum.
    """
    bucket_idx = pd.Categorical(accounts["size_bucket"], categories=SIZE_BUCKETS).codes
    role_idx = pd.Categorical(accounts["coverage_role"], categories=ROLES).codes
    for name, idx, allowed in (("size_bucket", bucket_idx, SIZE_BUCKETS), ("coverage_role", role_idx, ROLES)):
        if (idx < 0).any():
            bad = accounts.loc[idx < 0, ["account_id", name]].head(3).to_dict("records")
            raise WorkloadInputError(
                f"{name} outside {allowed} for {int((idx < 0).sum())} accounts, e.g. {bad}"
            )

    acts = cfg.activities
    # bucket × activity hours a year, role × activity factor: two small matrices, indexed per account
    service = np.array([[cfg.service[b][a][0] * cfg.service[b][a][1] for a in acts] for b in SIZE_BUCKETS])
    factors = np.array([[cfg.role_factors[r][a] for a in acts] for r in ROLES])
    hours = service[bucket_idx] * factors[role_idx]

    out = pd.DataFrame(
        {"account_id": accounts["account_id"].to_numpy(), "coverage_role": accounts["coverage_role"]}
    )
    for j, act in enumerate(acts):
        out[f"hours_{act}"] = hours[:, j]
    out["workload_hours"] = hours.sum(axis=1)
    return out.reset_index(drop=True)


def required_headcount(
    workload: pd.DataFrame, cfg: WorkloadConfig, reps: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per role: accounts, hours, capacity per rep, FTE needed, headcount (rounded up) and reps on staff."""
    by_role = (
        workload.groupby("coverage_role", observed=True)
        .agg(accounts=("account_id", "size"), workload_hours=("workload_hours", "sum"))
        .reindex(ROLES, fill_value=0)
        .rename_axis("role")
        .reset_index()
    )
    by_role["capacity_hours_per_rep"] = by_role["role"].map(cfg.capacity_hours).astype(float)
    by_role["required_fte"] = by_role["workload_hours"] / by_role["capacity_hours_per_rep"]
    by_role["headcount"] = np.where(
        by_role["accounts"] > 0, np.maximum(np.ceil(by_role["required_fte"]), 1), 0
    )
    by_role["headcount"] = by_role["headcount"].astype("int64")
    staffed = reps["role"].value_counts() if reps is not None else pd.Series(dtype="int64")
    by_role["reps_on_staff"] = by_role["role"].map(staffed).fillna(0).astype("int64")
    by_role["hiring_gap"] = by_role["headcount"] - by_role["reps_on_staff"]
    return by_role
