"""The fingerprint the ingest and the dbt build store with a run: its digest must stay what earlier runs
stored (else every warehouse loads and builds in full once), and a decision says reuse or why not."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from orchestration import warehouse_state
from sources import reuse
from sources.fingerprint import Decision, Fingerprint, redo

# sha256 of '{"end_date": "2025-12-31", "kind": "demo", "seed": 7}': sorted keys, a date as its ISO text
KNOWN = "86c1b679ce82d610237055ef7a430c2849a615dae4992acd595ed3a2d471371a"


def test_the_digest_is_sha256_of_the_canonical_json_of_the_parts():
    fp = Fingerprint({"seed": 7, "kind": "demo", "end_date": date(2025, 12, 31)})
    assert fp.digest == KNOWN
    assert fp.short == KNOWN[:16]


def test_equal_parts_in_any_order_give_one_digest_and_any_change_another():
    a = Fingerprint({"x": 1, "y": {"b": [1, 2], "a": "z"}})
    assert a.digest == Fingerprint({"y": {"a": "z", "b": [1, 2]}, "x": 1}).digest
    assert a.digest != Fingerprint({"x": 1, "y": {"b": [2, 1], "a": "z"}}).digest
    assert a.digest != Fingerprint({"x": "1", "y": {"b": [1, 2], "a": "z"}}).digest


def test_the_digest_is_fixed_when_the_fingerprint_is_made():
    parts = {"x": 1}
    fp = Fingerprint(parts)
    with pytest.raises(AttributeError):
        fp.digest = "other"  # frozen
    assert fp.digest == Fingerprint({"x": 1}).digest


def test_a_decision_reuses_only_with_a_run_id():
    at = datetime(2026, 11, 1, 10, 0)
    keep = Decision("run-1", at, "unchanged", {"accounts": 10})
    assert keep.reuse and keep.recorded == {"accounts": 10} and keep.made_at == at
    again = redo("the source changed")
    assert not again.reuse
    assert again.reason == "the source changed"
    assert (again.run_id, again.made_at, again.recorded) == (None, None, None)


def test_ingest_and_dbt_build_share_the_one_fingerprint_and_decision():
    assert reuse.Fingerprint is warehouse_state.Fingerprint is Fingerprint
    assert reuse.Decision is warehouse_state.Decision is Decision
