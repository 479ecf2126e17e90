"""Specialist overlays, readable coverage reasons and manual overrides with known answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ml.overrides import AUDIT_COLUMNS, OverrideError, apply_overrides, read_overrides
from ml.segments import SegmentInputError, assign_coverage, assign_overlays, assign_segments, explain_coverage
from planning.config import load_config

PLAN = load_config()
HEADER = "account_id,field,value,reason,author\n"


def segmented() -> pd.DataFrame:
    """Three accounts through the configured rules: A0 strategic value-seeking active → key account manager."""
    frame = pd.DataFrame(
        {
            "account_id": ["A0", "A1", "A2"],
            "status": ["active", "active", "prospect"],
            "revenue_t12m": [200_000.0, 1_000.0, 0.0],
            "employees": [10.0, 10.0, 10.0],
            "price_seeking_index": [0.1, 0.9, None],
            "recency_days": [10.0, 10.0, None],
            "open_pipeline_amount": [0.0, 5_000.0, 12_000.0],
            "potential": [250_000.0, 2_000.0, 30_000.0],
            "headroom": [50_000.0, 1_000.0, 30_000.0],
            "open_stage": [None, "proposal", "negotiation"],
        }
    )
    out = assign_coverage(assign_segments(frame, PLAN.segments), PLAN.coverage_tiers)
    out["coverage_reason"] = explain_coverage(out)
    return assign_overlays(out, PLAN.specialist_overlays)


def test_overlay_follows_the_most_advanced_open_stage() -> None:
    s = segmented().set_index("account_id")
    assert (
        s.loc["A0", "specialist_overlay"] == "none"
        and s.loc["A0", "specialist_reason"] == "no open opportunity"
    )
    assert s.loc["A1", "specialist_overlay"] == "solutions_specialist"
    assert s.loc["A1", "specialist_reason"] == "proposal to shape (open proposal opportunity, pipeline 5,000)"
    assert s.loc["A2", "specialist_overlay"] == "pricing_specialist"


def test_unknown_stage_is_named() -> None:
    frame = pd.DataFrame({"open_stage": ["proposal", "won_maybe"], "open_pipeline_amount": [1.0, 2.0]})
    with pytest.raises(SegmentInputError, match="won_maybe"):
        assign_overlays(frame, PLAN.specialist_overlays)


def test_coverage_reason_reads_as_words() -> None:
    s = segmented().set_index("account_id")
    assert s.loc["A0", "coverage_tier"] == "key_account_manager"
    assert s.loc["A0", "coverage_reason"] == (
        "strategic value-seeking account — size tier strategic; high value, high headroom; value-seeking; active customer"
    )
    assert s.loc["A2", "coverage_reason"].endswith("prospect with pipeline")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "overrides.csv"
    path.write_text(HEADER + body)
    return path


def test_overrides_are_applied_and_audited(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'A1,coverage_tier,field_hunter,"new plant, big tender",jane\nA1,specialist_overlay,none,not needed,sam\n',
    )
    out = apply_overrides(segmented(), read_overrides(path), PLAN, path).set_index("account_id")
    a1 = out.loc["A1"]
    assert a1["coverage_tier"] == "field_hunter" and a1["coverage_role"] == "field"
    assert a1["coverage_reason"] == "manual override: new plant, big tender (rule said inside_sales)"
    assert a1["specialist_overlay"] == "none"
    assert a1["override_field"] == "coverage_tier; specialist_overlay"
    assert a1["original_value"] == "inside_sales; solutions_specialist"
    assert (
        a1["override_reason"] == "new plant, big tender; not needed" and a1["override_author"] == "jane; sam"
    )
    assert out.loc[["A0", "A2"], AUDIT_COLUMNS].isna().all().all()
    assert out.loc["A0", "coverage_tier"] == "key_account_manager"  # untouched


def test_shipped_empty_file_changes_nothing() -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "overrides.csv"
    assert shipped.read_text() == HEADER
    before = segmented()
    out = apply_overrides(before, read_overrides(shipped), PLAN, shipped)
    pd.testing.assert_frame_equal(out.drop(columns=AUDIT_COLUMNS), before)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("A9,coverage_tier,digital,r,a\n", r"line 2, column account_id: unknown account 'A9'"),
        ("A0,territory,T1,r,a\n", r"line 2, column field: 'territory' cannot be overridden"),
        (
            "A0,coverage_tier,field_hunter,r,a\nA0,coverage_tier,gold,r,a\n",
            r"line 3, column value: 'gold' is not a coverage_tier",
        ),
        ("A0,behaviour,price_seeking,,a\n", r"line 2, column reason: empty"),
        (
            "A0,lifecycle,lapsed,r,a\nA0,lifecycle,active,r2,b\n",
            r"line 3, column field: a second lifecycle override",
        ),
    ],
)
def test_bad_rows_name_file_line_and_column(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(OverrideError, match=r"overrides\.csv, " + message):
        apply_overrides(segmented(), read_overrides(path), PLAN, path)


def test_bad_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "overrides.csv"
    path.write_text("account,field,value\nA0,coverage_tier,digital\n")
    with pytest.raises(OverrideError, match="header must be account_id,field,value,reason,author"):
        read_overrides(path)
