"""Segments (size tier, value × potential quadrant, behaviour, lifecycle) and coverage tiers per account.

Every rule here is a vectorised pass over the whole frame; the thresholds come from the validated
`segments` and `coverage_tiers` sections of config/plan.yaml.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planning.config import OPPORTUNITY_STAGES, CoverageRule, SegmentsConfig, SpecialistOverlay

SEGMENT_INPUT_COLUMNS = [
    "account_id",
    "status",
    "revenue_t12m",
    "employees",
    "price_seeking_index",
    "recency_days",
    "open_pipeline_amount",
    "potential",
    "headroom",
]
STATUSES = ("active", "prospect")
QUADRANTS = (
    "high_potential_high_value",
    "high_potential_low_value",
    "low_potential_high_value",
    "low_potential_low_value",
)


class SegmentInputError(ValueError):
    """The account frame lacks a column or carries a value the segment rules do not know."""


class CoverageRuleError(ValueError):
    """A coverage rule's condition could not be evaluated, or left accounts without a tier."""


def assign_segments(accounts: pd.DataFrame, cfg: SegmentsConfig) -> pd.DataFrame:
    """Add size_tier, quadrant, behaviour, lifecycle and share_of_wallet to a per-account frame.

    - size_tier: the first `cfg.size_tiers` row whose min_revenue_t12m OR min_employees the account
      reaches (missing revenue or employees count as 0, so the catch-all last tier always applies).
    - quadrant: value is high when revenue_t12m is strictly above the median revenue_t12m of *active*
      accounts (prospects would drag the median to zero); potential is high when headroom is strictly
      above the median headroom of *all* accounts (room to grow matters for prospects too). Strictly
      above, so when a median is 0 an account with nothing is never "high".
    - behaviour: 'price_seeking' when price_seeking_index >= cfg.price_seeking_threshold, else
      'value_seeking' (a missing index, e.g. a prospect with no orders, is no evidence of price seeking).
    - lifecycle: status 'active' with recency_days < cfg.lapsed_after_days → 'active'; 'active' with no
      order for that long (or no order at all) → 'lapsed'; 'prospect' with open_pipeline_amount > 0 →
      'pipeline'; other prospects → 'prospect'.
    - share_of_wallet: revenue_t12m / potential, 0 when potential is 0 or missing, clipped to [0, 1].
    """
    missing = [c for c in SEGMENT_INPUT_COLUMNS if c not in accounts.columns]
    if missing:
        raise SegmentInputError(
            f"the account frame lacks columns {missing}; segments need {SEGMENT_INPUT_COLUMNS}"
        )
    status = accounts["status"].astype("object")
    bad = ~status.isin(STATUSES)
    if bad.any():
        examples = accounts.loc[bad, ["account_id", "status"]].head(3).to_dict("records")
        raise SegmentInputError(
            f"status must be one of {list(STATUSES)}; {int(bad.sum())} accounts have another value, e.g. {examples}"
        )

    out = accounts.copy()
    revenue = _num(accounts["revenue_t12m"])
    employees = _num(accounts["employees"])
    headroom = _num(accounts["headroom"])
    potential = _num(accounts["potential"])
    active = (status == "active").to_numpy()

    rev0, emp0 = np.nan_to_num(revenue), np.nan_to_num(employees)
    reaches = [(rev0 >= t.min_revenue_t12m) | (emp0 >= t.min_employees) for t in cfg.size_tiers]
    out["size_tier"] = np.select(reaches, [t.name for t in cfg.size_tiers], default=cfg.size_tiers[-1].name)

    value_split = np.nanmedian(revenue[active]) if np.isfinite(revenue[active]).any() else np.inf
    potential_split = np.nanmedian(headroom) if np.isfinite(headroom).any() else np.inf
    high_value = revenue > value_split  # NaN compares False: low
    high_potential = headroom > potential_split
    out["quadrant"] = np.where(
        high_potential,
        np.where(high_value, QUADRANTS[0], QUADRANTS[1]),
        np.where(high_value, QUADRANTS[2], QUADRANTS[3]),
    )

    price_seeking = _num(accounts["price_seeking_index"]) >= cfg.price_seeking_threshold
    out["behaviour"] = np.where(price_seeking, "price_seeking", "value_seeking")

    recent = _num(accounts["recency_days"]) < cfg.lapsed_after_days  # NaN (never ordered) is not recent
    pipeline = np.nan_to_num(_num(accounts["open_pipeline_amount"])) > 0
    out["lifecycle"] = np.select(
        [active & recent, active, pipeline], ["active", "lapsed", "pipeline"], default="prospect"
    )

    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(potential > 0, rev0 / potential, 0.0)
    out["share_of_wallet"] = np.clip(np.nan_to_num(share), 0.0, 1.0)
    return out


def assign_coverage(segments: pd.DataFrame, rules: list[CoverageRule]) -> pd.DataFrame:
    """Add coverage_tier, coverage_role and coverage_reason: the first rule whose `when` holds wins.

    Each rule's condition is evaluated once over the whole frame (pandas eval, python engine); a missing
    result (NaN) counts as false. Raises CoverageRuleError naming the rule when a condition fails or does
    not give one true/false per account, and when some account matches no rule (the config's last rule is
    the catch-all "True", so that only happens with hand-made rule lists).
    """
    if not rules:
        raise CoverageRuleError(
            "no coverage rules given; config/plan.yaml coverage_tiers needs at least the catch-all"
        )
    conditions = [_evaluate_rule(segments, rule, i) for i, rule in enumerate(rules)]
    matched = np.logical_or.reduce(conditions)
    if not matched.all():
        examples = segments.loc[~matched, "account_id"].head(5).tolist() if "account_id" in segments else []
        raise CoverageRuleError(
            f"{int((~matched).sum())} accounts match no coverage rule, e.g. {examples}; end the rules with a "
            'catch-all `when: "True"`'
        )
    out = segments.copy()
    for column, attr in (("coverage_tier", "tier"), ("coverage_role", "role"), ("coverage_reason", "reason")):
        out[column] = np.select(conditions, [getattr(r, attr) for r in rules], default="").astype(object)
    return out


def _evaluate_rule(frame: pd.DataFrame, rule: CoverageRule, index: int) -> np.ndarray:
    """One rule's condition as a boolean array over the frame (a scalar like True is broadcast)."""
    where = f"coverage rule {index + 1} (tier {rule.tier!r}, when: {rule.when!r})"
    try:
        result = frame.eval(rule.when, engine="python")
    except Exception as exc:  # pandas raises many types for an expression that fails on the data
        raise CoverageRuleError(
            f"{where} failed on the segment columns: {type(exc).__name__}: {exc}; fix the expression in "
            "config/plan.yaml coverage_tiers"
        ) from exc
    if np.ndim(result) == 0:
        if not isinstance(result, bool | np.bool_):
            raise CoverageRuleError(f"{where} gave {result!r}, not true/false")
        return np.full(len(frame), bool(result))
    values = pd.Series(result, index=frame.index) if not isinstance(result, pd.Series) else result
    boolean = pd.api.types.is_bool_dtype(values.dtype) or (
        values.dtype == object and values.dropna().isin([True, False]).all()
    )
    if len(values) != len(frame) or not boolean:
        raise CoverageRuleError(f"{where} gave {values.dtype} values, not one true/false per account")
    return values.fillna(False).to_numpy(dtype=bool)


def _num(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


QUADRANT_WORDS = {
    "high_potential_high_value": "high value, high headroom",
    "high_potential_low_value": "low value, high headroom",
    "low_potential_high_value": "high value, little headroom",
    "low_potential_low_value": "low value, little headroom",
}


def explain_coverage(frame: pd.DataFrame) -> pd.Series:
    """The rule's reason plus the segment facts it was read from, e.g. "established value-seeking account
    — size tier regional; low value, high headroom; value-seeking; active customer"."""
    quadrant = frame["quadrant"].map(QUADRANT_WORDS).fillna(frame["quadrant"].astype(str))
    behaviour = frame["behaviour"].astype(str).str.replace("_", "-", regex=False)
    lifecycle = frame["lifecycle"].map(
        {
            "active": "active customer",
            "lapsed": "lapsed customer",
            "pipeline": "prospect with pipeline",
            "prospect": "prospect",
        }  # fmt: skip
    )
    return (
        frame["coverage_reason"].astype(str)
        + " — size tier "
        + frame["size_tier"].astype(str)
        + "; "
        + quadrant
        + "; "
        + behaviour
        + "; "
        + lifecycle.fillna(frame["lifecycle"].astype(str))
    )


def assign_overlays(frame: pd.DataFrame, overlays: list[SpecialistOverlay]) -> pd.DataFrame:
    """Add specialist_overlay and specialist_reason from the most advanced open opportunity stage.

    `frame` needs open_stage (the latest open stage of the account's opportunities, null when none) and
    open_pipeline_amount. Accounts without an open opportunity, or whose stage has no overlay in the config,
    get specialist_overlay 'none' and a reason that says so. Unknown stages are an error naming them.
    """
    stage = frame["open_stage"].astype(object)
    known = set(OPPORTUNITY_STAGES)
    bad = stage.notna() & ~stage.isin(known)
    if bad.any():
        raise SegmentInputError(
            f"open_stage has values outside {OPPORTUNITY_STAGES}: {sorted(set(stage[bad]))[:5]}"
        )
    by_stage = {o.stage: o for o in overlays}
    overlay = stage.map({s: o.overlay for s, o in by_stage.items()})
    reason = stage.map({s: o.reason for s, o in by_stage.items()})
    amount = np.nan_to_num(_num(frame["open_pipeline_amount"]))
    out = frame.copy()
    out["specialist_overlay"] = overlay.fillna("none").to_numpy(dtype=object)
    with_overlay = overlay.notna().to_numpy()
    described = (
        reason.astype(str)
        + " (open "
        + stage.astype(str)
        + " opportunity, pipeline "
        + pd.Series(amount, index=frame.index).map("{:,.0f}".format)
        + ")"
    )
    no_overlay = np.where(
        stage.notna(), "no overlay configured for stage " + stage.astype(str), "no open opportunity"
    )
    out["specialist_reason"] = np.where(with_overlay, described, no_overlay).astype(object)
    return out
