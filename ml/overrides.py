"""Manual overrides of segment and coverage assignments (`config/overrides.csv`), applied after the rules.

The file has the header account_id,field,value,reason,author; one row per account × field. Every row is
validated before any is applied: an unknown account, field or value, an empty reason or author, or a
second row for the same account and field stops the run with the file, the row (line number in the file)
and the column. Applied overrides are recorded per account next to the rule's original value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.segments import QUADRANTS
from planning.config import CoverageRule, PlanConfig

COLUMNS = ["account_id", "field", "value", "reason", "author"]
AUDIT_COLUMNS = ["override_field", "original_value", "override_reason", "override_author"]


class OverrideError(ValueError):
    """The overrides file has a row that cannot be applied (message names file, line and column)."""


def allowed_values(cfg: PlanConfig) -> dict[str, list[str]]:
    """The fields a person may override and the values each accepts (from the plan config)."""
    return {
        "coverage_tier": list(dict.fromkeys(r.tier for r in cfg.coverage_tiers)),
        "size_tier": [t.name for t in cfg.segments.size_tiers],
        "quadrant": list(QUADRANTS),
        "behaviour": ["price_seeking", "value_seeking"],
        "lifecycle": ["active", "pipeline", "lapsed", "prospect"],
        "specialist_overlay": ["none", *dict.fromkeys(o.overlay for o in cfg.specialist_overlays)],
    }


def read_overrides(path: str | Path) -> pd.DataFrame:
    """The overrides file as strings, with a `line` column (line number in the file); empty when absent."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=[*COLUMNS, "line"])
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OverrideError(f"{path}: not a readable CSV file: {exc}") from None
    header = [c.strip() for c in frame.columns]
    if header != COLUMNS:
        raise OverrideError(f"{path}: header must be {','.join(COLUMNS)} (found {','.join(header)})")
    frame.columns = header
    frame = frame.apply(lambda col: col.str.strip())
    frame["line"] = np.arange(2, len(frame) + 2)  # line 1 is the header
    return frame


def validate_overrides(
    overrides: pd.DataFrame, accounts: pd.DataFrame, cfg: PlanConfig, path: str | Path
) -> None:
    """Raise OverrideError on the first bad row (file, line, column, what is allowed)."""
    allowed = allowed_values(cfg)
    known_accounts = set(accounts["account_id"].astype(str))
    for column in ("account_id", "field", "value", "reason", "author"):
        empty = overrides[overrides[column] == ""]
        if len(empty):
            raise OverrideError(
                f"{path}, line {int(empty['line'].iloc[0])}, column {column}: empty; every override needs "
                "an account, a field, a value, a reason and an author"
            )
    unknown = overrides[~overrides["account_id"].isin(known_accounts)]
    if len(unknown):
        row = unknown.iloc[0]
        raise OverrideError(
            f"{path}, line {int(row['line'])}, column account_id: unknown account {row['account_id']!r}; "
            "use an account_id of the current plan or remove the row"
        )
    bad_field = overrides[~overrides["field"].isin(allowed)]
    if len(bad_field):
        row = bad_field.iloc[0]
        raise OverrideError(
            f"{path}, line {int(row['line'])}, column field: {row['field']!r} cannot be overridden; "
            f"use one of {sorted(allowed)}"
        )
    for field, values in allowed.items():
        rows = overrides[(overrides["field"] == field) & ~overrides["value"].isin(values)]
        if len(rows):
            row = rows.iloc[0]
            raise OverrideError(
                f"{path}, line {int(row['line'])}, column value: {row['value']!r} is not a {field}; use one of {values}"
            )
    dupes = overrides[overrides.duplicated(["account_id", "field"], keep="first")]
    if len(dupes):
        row = dupes.iloc[0]
        raise OverrideError(
            f"{path}, line {int(row['line'])}, column field: a second {row['field']} override for account "
            f"{row['account_id']!r}; keep one row per account and field"
        )


def apply_overrides(
    segments: pd.DataFrame, overrides: pd.DataFrame, cfg: PlanConfig, path: str | Path
) -> pd.DataFrame:
    """Validate, then set each overridden field and record override_field, original_value,
    override_reason and override_author per account (several fields of one account joined by "; ").
    A coverage_tier override also sets coverage_role to the tier's role and says so in coverage_reason."""
    validate_overrides(overrides, segments, cfg, path)
    out = segments.copy()
    for column in AUDIT_COLUMNS:
        out[column] = pd.Series([None] * len(out), index=out.index, dtype=object)
    if overrides.empty:
        return out
    position = pd.Series(np.arange(len(out)), index=out["account_id"].astype(str))
    roles = _tier_roles(cfg.coverage_tiers)
    for field, rows in overrides.groupby("field", sort=True):  # a handful of fields, vectorised within each
        idx = out.index[position[rows["account_id"]].to_numpy()]
        original = out.loc[idx, field].astype(object).to_numpy()
        out.loc[idx, field] = rows["value"].to_numpy()
        if field == "coverage_tier":
            out.loc[idx, "coverage_role"] = rows["value"].map(roles).to_numpy()
            out.loc[idx, "coverage_reason"] = (
                "manual override: "
                + rows["reason"]
                + " (rule said "
                + pd.Series(original).astype(str).to_numpy()
                + ")"
            ).to_numpy()
        if field == "specialist_overlay":
            out.loc[idx, "specialist_reason"] = ("manual override: " + rows["reason"]).to_numpy()
        for column, values in (
            ("override_field", rows["field"].to_numpy()),
            ("original_value", pd.Series(original).astype(str).to_numpy()),
            ("override_reason", rows["reason"].to_numpy()),
            ("override_author", rows["author"].to_numpy()),
        ):
            current = out.loc[idx, column]
            out.loc[idx, column] = np.where(current.isna(), values, current.astype(str) + "; " + values)
    return out


def _tier_roles(rules: list[CoverageRule]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for r in rules:
        roles.setdefault(r.tier, r.role)
    return roles
