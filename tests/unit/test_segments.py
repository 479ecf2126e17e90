"""Segments and coverage tiers on hand-made account frames with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.segments import CoverageRuleError, SegmentInputError, assign_coverage, assign_segments
from planning.config import CoverageRule, load_config

PLAN = load_config()
SEG = PLAN.segments  # tiers strategic 150000/5000, national 50000/1000, regional 10000/200, smb 0/0


def accounts(**columns: list) -> pd.DataFrame:
    """An account frame with neutral defaults; pass a column as a list to vary it per account."""
    n = len(next(iter(columns.values())))
    base = {
        "account_id": [f"A{i}" for i in range(n)],
        "status": ["active"] * n,
        "revenue_t12m": [1000.0] * n,
        "employees": [10.0] * n,
        "size_bucket": ["<5K"] * n,
        "price_seeking_index": [0.1] * n,
        "recency_days": [30.0] * n,
        "open_pipeline_amount": [0.0] * n,
        "expected_revenue_next_4q": [1000.0] * n,
        "potential": [2000.0] * n,
        "headroom": [1000.0] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


def rule(tier: str, when: str, role: str = "field") -> CoverageRule:
    return CoverageRule(tier=tier, role=role, when=when, reason=f"reason {tier}")


def test_size_tier_at_exact_thresholds() -> None:
    cases = [  # (revenue_t12m, employees, expected tier)
        (150_000, 0, "strategic"),
        (149_999.99, 4_999, "national"),
        (0, 5_000, "strategic"),
        (50_000, 0, "national"),
        (49_999.99, 999, "regional"),
        (0, 1_000, "national"),
        (10_000, 0, "regional"),
        (0, 200, "regional"),
        (9_999.99, 199, "smb"),
        (0, 0, "smb"),
        (-500, np.nan, "smb"),  # net returns, unknown headcount: the catch-all still applies
        (np.nan, np.nan, "smb"),
    ]
    frame = accounts(revenue_t12m=[c[0] for c in cases], employees=[c[1] for c in cases])
    assert assign_segments(frame, SEG)["size_tier"].tolist() == [c[2] for c in cases]


def test_behaviour_at_threshold() -> None:
    frame = accounts(price_seeking_index=[0.5, 0.4999, 1.0, 0.0, np.nan])
    assert assign_segments(frame, SEG)["behaviour"].tolist() == [
        "price_seeking",
        "value_seeking",
        "price_seeking",
        "value_seeking",
        "value_seeking",
    ]


def test_lifecycle_cases() -> None:
    frame = accounts(
        status=["active", "active", "active", "prospect", "prospect", "prospect", "active"],
        recency_days=[364, 365, np.nan, np.nan, np.nan, 10, 400],
        open_pipeline_amount=[0, 0, 0, 1, 0, np.nan, 5000],
    )
    assert assign_segments(frame, SEG)["lifecycle"].tolist() == [
        "active",  # ordered within 365 days
        "lapsed",  # exactly 365 days without an order
        "lapsed",  # a customer that never ordered
        "pipeline",
        "prospect",
        "prospect",  # missing pipeline amount is no pipeline
        "lapsed",  # pipeline does not make a lapsed customer a pipeline account
    ]


def test_quadrant_splits_on_active_revenue_median_and_all_headroom_median() -> None:
    frame = accounts(
        status=["active", "active", "active", "active", "prospect", "prospect"],
        revenue_t12m=[100.0, 200.0, 300.0, 400.0, 0.0, 0.0],  # active median 250 (prospects ignored)
        headroom=[0.0, 50.0, 10.0, 60.0, 100.0, 0.0],  # median of all six: 30
    )
    assert assign_segments(frame, SEG)["quadrant"].tolist() == [
        "low_potential_low_value",
        "high_potential_low_value",
        "low_potential_high_value",
        "high_potential_high_value",
        "high_potential_low_value",
        "low_potential_low_value",
    ]


def test_quadrant_at_the_median_is_low() -> None:
    frame = accounts(revenue_t12m=[100.0, 200.0, 300.0], headroom=[0.0, 0.0, 5.0])  # medians 200 and 0
    assert assign_segments(frame, SEG)["quadrant"].tolist() == [
        "low_potential_low_value",
        "low_potential_low_value",  # exactly at the value median, headroom 0 = median 0
        "high_potential_high_value",
    ]


def test_share_of_wallet() -> None:
    frame = accounts(revenue_t12m=[500.0, 0.0, 100.0, 100.0], potential=[1000.0, 0.0, 0.0, np.nan])
    assert assign_segments(frame, SEG)["share_of_wallet"].tolist() == [0.5, 0.0, 0.0, 0.0]


def test_unknown_status_and_missing_columns_are_named() -> None:
    with pytest.raises(SegmentInputError, match=r"status must be one of.*'customer'"):
        assign_segments(accounts(status=["active", "customer"]), SEG)
    with pytest.raises(SegmentInputError, match=r"\['headroom'\]"):
        assign_segments(accounts(status=["active"]).drop(columns="headroom"), SEG)


def segment_rows() -> pd.DataFrame:
    """One account aimed at each configured tier, plus one that matches two rules."""
    return pd.DataFrame(
        {
            "account_id": [
                "kam",
                "kam_and_hunter",
                "hunter",
                "farmer",
                "inside",
                "inside_pipe",
                "digital",
                "rfp_bully",
            ],
            "size_tier": ["strategic", "strategic", "regional", "national", "smb", "smb", "smb", "strategic"],
            "quadrant": [
                "low_potential_high_value",
                "high_potential_low_value",
                "high_potential_low_value",
                "low_potential_high_value",
                "low_potential_low_value",
                "high_potential_low_value",
                "low_potential_low_value",
                "low_potential_high_value",
            ],
            "behaviour": ["value_seeking"] * 7 + ["price_seeking"],
            "lifecycle": [
                "active",
                "active",
                "prospect",
                "active",
                "active",
                "pipeline",
                "prospect",
                "active",
            ],
            "revenue_t12m": [900_000.0, 160_000.0, 0.0, 60_000.0, 2_000.0, 0.0, 0.0, 2_000_000.0],
            "potential": [950_000.0, 400_000.0, 30_000.0, 70_000.0, 3_000.0, 20_000.0, 500.0, 2_100_000.0],
            "headroom": [50_000.0, 240_000.0, 30_000.0, 10_000.0, 1_000.0, 20_000.0, 500.0, 100_000.0],
            "share_of_wallet": [0.95, 0.4, 0.0, 0.86, 0.67, 0.0, 0.0, 0.95],
            "open_pipeline_amount": [0.0, 0.0, 0.0, 0.0, 0.0, 5_000.0, 0.0, 0.0],
        }
    )


def test_first_matching_configured_rule_wins() -> None:
    out = assign_coverage(segment_rows(), PLAN.coverage_tiers)
    assert out.set_index("account_id")["coverage_tier"].to_dict() == {
        "kam": "key_account_manager",
        "kam_and_hunter": "key_account_manager",  # matches the hunter rule too; the first rule wins
        "hunter": "field_hunter",
        "farmer": "field_farmer",
        "inside": "inside_sales",
        "inside_pipe": "inside_sales",
        "digital": "digital",
        "rfp_bully": "inside_sales",  # huge but price-seeking: no expensive coverage
    }
    roles = {r.tier: r.role for r in PLAN.coverage_tiers}
    reasons = {r.tier: r.reason for r in PLAN.coverage_tiers}
    assert (out["coverage_role"] == out["coverage_tier"].map(roles)).all()
    assert (out["coverage_reason"] == out["coverage_tier"].map(reasons)).all()


def test_first_matching_hand_made_rule_wins_and_order_matters() -> None:
    frame = segment_rows()
    big_first = [
        rule("big", "revenue_t12m >= 100000"),
        rule("pipe", "open_pipeline_amount > 0"),
        rule("rest", "True"),
    ]
    tiers = assign_coverage(frame, big_first)["coverage_tier"].tolist()
    assert tiers == ["big", "big", "rest", "rest", "rest", "pipe", "rest", "big"]
    everything_first = [rule("all", "True"), *big_first]
    assert set(assign_coverage(frame, everything_first)["coverage_tier"]) == {"all"}


def test_a_rule_that_fails_at_runtime_names_the_rule_and_expression() -> None:
    # passes the config's parse check (empty columns) but cannot compare text with a number on real rows
    text_vs_number = rule("odd", "size_tier > 5")
    with pytest.raises(
        CoverageRuleError, match=r"rule 1 \(tier 'odd', when: 'size_tier > 5'\) failed.*TypeError"
    ):
        assign_coverage(segment_rows(), [text_vs_number, rule("rest", "True")])
    broken = CoverageRule.model_construct(tier="broken", role="field", when="no_such_column > 1", reason="x")
    with pytest.raises(CoverageRuleError, match=r"rule 2 \(tier 'broken', when: 'no_such_column > 1'\)"):
        assign_coverage(segment_rows(), [rule("big", "revenue_t12m > 1e6"), broken, rule("rest", "True")])
    not_boolean = rule("amount", "revenue_t12m * 2")
    with pytest.raises(CoverageRuleError, match=r"tier 'amount'.*not one true/false per account"):
        assign_coverage(segment_rows(), [not_boolean, rule("rest", "True")])


def test_accounts_matching_no_rule_are_an_error() -> None:
    with pytest.raises(CoverageRuleError, match=r"5 accounts match no coverage rule"):
        assign_coverage(segment_rows(), [rule("big", "revenue_t12m >= 100000")])


def test_every_account_gets_exactly_one_tier_the_first_that_matches() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    revenue = np.round(rng.lognormal(8, 2.5, n) * (rng.random(n) < 0.8), 2)
    potential = revenue * rng.uniform(1, 4, n) + rng.uniform(0, 50_000, n)
    frame = accounts(
        status=list(np.where(revenue > 0, "active", "prospect")),
        revenue_t12m=list(revenue),
        employees=list(np.round(rng.lognormal(4, 2, n))),
        price_seeking_index=list(np.where(rng.random(n) < 0.1, np.nan, rng.random(n))),
        recency_days=list(np.where(revenue > 0, rng.integers(1, 800, n), np.nan)),
        open_pipeline_amount=list(np.where(rng.random(n) < 0.3, rng.uniform(0, 20_000, n), 0.0)),
        potential=list(potential),
        headroom=list(potential - revenue),
    )
    out = assign_coverage(assign_segments(frame, SEG), PLAN.coverage_tiers)
    assert len(out) == n and out.index.equals(frame.index)
    assert out["coverage_tier"].notna().all()
    assert set(out["coverage_tier"]) <= {r.tier for r in PLAN.coverage_tiers}
    # the chosen tier is the first rule whose condition holds, checked rule by rule
    holds = np.column_stack(
        [
            np.broadcast_to(np.asarray(out.eval(r.when, engine="python"), dtype=bool), n)
            for r in PLAN.coverage_tiers
        ]
    )
    first = np.array([r.tier for r in PLAN.coverage_tiers])[holds.argmax(axis=1)]
    assert (out["coverage_tier"].to_numpy() == first).all()
    assert out["size_tier"].isin([t.name for t in SEG.size_tiers]).all()
