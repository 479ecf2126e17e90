"""Selling time each account needs, and the headcount that time adds up to.

Service assumptions follow the territory-design seed: per size bucket and activity, events a year ×
hours per event; each coverage role delivers them with its own factor (inside sales does not visit).
Specialist overlays (business development, solutions, pricing) work on top of the coverage role: their
hours are kept apart (`overlay_hours`), so territory balance stays on the coverage rep's own hours, and
each overlay gets its own headcount row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planning.config import ROLES, SIZE_BUCKETS, WorkloadConfig
from planning.goals import largest_remainder


class WorkloadInputError(ValueError):
    """Accounts carry a size bucket or role the service table does not know."""


def account_workload(accounts: pd.DataFrame, cfg: WorkloadConfig) -> pd.DataFrame:
    """Hours a year per account and activity: events(bucket) × hours(bucket) × factor(role).

    `accounts` needs account_id, size_bucket and coverage_role; returns account_id, coverage_role,
    one `hours_<activity>` column per activity and `workload_hours`, their sum. When `accounts` has a
    specialist_overlay column ('none' or an overlay of `cfg.overlays`), the result also carries it and
    `overlay_hours`: the overlay's hours_per_account (0 for 'none'), not part of workload_hours.
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
    if "specialist_overlay" in accounts:
        out["specialist_overlay"] = accounts["specialist_overlay"].fillna("none").to_numpy(dtype=object)
        out["overlay_hours"] = _overlay_hours(out, cfg)
    return out.reset_index(drop=True)


def _overlay_hours(out: pd.DataFrame, cfg: WorkloadConfig) -> np.ndarray:
    """Hours a year of each account's specialist overlay; an overlay without service hours is an error."""
    per_account = {name: svc.hours_per_account for name, svc in cfg.overlays.items()}
    overlay = out["specialist_overlay"]
    unknown = (overlay != "none") & ~overlay.isin(list(per_account))
    if unknown.any():
        bad = out.loc[unknown, ["account_id", "specialist_overlay"]].head(3).to_dict("records")
        raise WorkloadInputError(
            f"specialist_overlay outside workload.overlays {sorted(per_account)} for {int(unknown.sum())} "
            f"accounts, e.g. {bad}"
        )
    return overlay.map(per_account).fillna(0.0).to_numpy(dtype="float64")


SPECIALIST_ROLE = "specialist"  # the raw contract's rep role for overlay specialists


def required_headcount(
    workload: pd.DataFrame, cfg: WorkloadConfig, reps: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per role: accounts, hours, capacity per rep, FTE needed, headcount (rounded up) and reps on staff.

    One row per coverage role (kind 'coverage_role', in ROLES order), then, when `workload` has
    overlay_hours, one row per overlay of `cfg.overlays` (kind 'specialist_overlay'): the accounts it
    supports, their overlay hours and the specialists those hours need at the overlay's capacity; the
    reps on staff with role `specialist` are shared out over the overlay rows (share_out).
    """
    by_role = (
        workload.groupby("coverage_role", observed=True)
        .agg(accounts=("account_id", "size"), workload_hours=("workload_hours", "sum"))
        .reindex(ROLES, fill_value=0)
        .rename_axis("role")
        .reset_index()
    )
    by_role["capacity_hours_per_rep"] = by_role["role"].map(cfg.capacity_hours).astype(float)
    by_role.insert(1, "kind", "coverage_role")
    if "overlay_hours" in workload:
        by_role = pd.concat([by_role, _overlay_rows(workload, cfg)], ignore_index=True)
    by_role["required_fte"] = by_role["workload_hours"] / by_role["capacity_hours_per_rep"]
    # a coverage role with any account needs one rep; an overlay only when its hours are not zero
    needed = (by_role["accounts"] > 0) & (
        (by_role["kind"] == "coverage_role") | (by_role["workload_hours"] > 0)
    )
    by_role["headcount"] = np.where(needed, np.maximum(np.ceil(by_role["required_fte"]), 1), 0)
    by_role["headcount"] = by_role["headcount"].astype("int64")
    staffed = reps["role"].value_counts() if reps is not None else pd.Series(dtype="int64")
    by_role["reps_on_staff"] = by_role["role"].map(staffed).fillna(0).astype("int64")
    overlay = (by_role["kind"] == "specialist_overlay").to_numpy()
    if overlay.any():
        # reps of the contract role `specialist` staff every overlay: shared out in proportion to the
        # headcount each overlay needs
        on_staff = share_out(
            int(staffed.get(SPECIALIST_ROLE, 0)), by_role.loc[overlay, "headcount"].to_numpy()
        )
        by_role.loc[overlay, "reps_on_staff"] = on_staff
    by_role["hiring_gap"] = by_role["headcount"] - by_role["reps_on_staff"]
    return by_role


def share_out(total: int, weights: np.ndarray) -> np.ndarray:
    """`total` split into integers in proportion to `weights` (planning.goals.largest_remainder: ties to
    the first), equal weights when they are all zero. The parts always sum to `total`."""
    weights = np.asarray(weights, dtype="float64")
    return largest_remainder(weights if weights.sum() > 0 else np.ones(len(weights)), total)


def _overlay_rows(workload: pd.DataFrame, cfg: WorkloadConfig) -> pd.DataFrame:
    """Accounts, hours and capacity per specialist overlay, in the order of workload.overlays."""
    names = list(cfg.overlays)
    supported = workload[workload["specialist_overlay"] != "none"]
    agg = (
        supported.groupby("specialist_overlay")
        .agg(accounts=("account_id", "size"), workload_hours=("overlay_hours", "sum"))
        .reindex(names, fill_value=0)
    )
    return pd.DataFrame(
        {
            "role": names,
            "kind": "specialist_overlay",
            "accounts": agg["accounts"].to_numpy(dtype="int64"),
            "workload_hours": agg["workload_hours"].to_numpy(dtype="float64"),
            "capacity_hours_per_rep": [float(cfg.overlays[n].capacity_hours) for n in names],
        }
    )
