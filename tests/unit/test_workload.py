import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from planning.config import DEFAULT_CONFIG_PATH, OverlayService, PlanConfig, load_config
from planning.workload import WorkloadInputError, account_workload, required_headcount, share_out

CFG = load_config().workload


def test_hours_are_events_times_hours_times_role_factor():
    accounts = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "size_bucket": [">=50K", ">=50K", "<5K"],
            "coverage_role": ["field", "inside", "digital"],
        }
    )
    out = account_workload(accounts, CFG).set_index("account_id")
    # >=50K field: 12×0.5 + 10×1.0 + 10×0.5 + 8×4.0 = 53 hours, factors all 1
    assert out.loc["a", "workload_hours"] == pytest.approx(53.0)
    # inside: no visits; 0.8 on order capture and follow-up: 6×0.8 + 10 + 5×0.8 = 18.8
    assert out.loc["b", "hours_visits"] == 0
    assert out.loc["b", "workload_hours"] == pytest.approx(18.8)
    # <5K digital: 2×0.5×0.1 + 1×1×0.5 + 2×0.5×0.1 = 0.7
    assert out.loc["c", "workload_hours"] == pytest.approx(0.7)


def test_unknown_bucket_names_the_accounts():
    accounts = pd.DataFrame({"account_id": ["x"], "size_bucket": ["huge"], "coverage_role": ["field"]})
    with pytest.raises(WorkloadInputError, match="size_bucket.*'x'"):
        account_workload(accounts, CFG)


def test_headcount_rounds_up_per_role_and_counts_reps():
    workload = pd.DataFrame(
        {
            "account_id": list("abc"),
            "coverage_role": ["field", "field", "inside"],
            "workload_hours": [1000.0, 700.0, 10.0],
        }
    )
    reps = pd.DataFrame({"rep_id": ["r1"], "role": ["field"]})
    hc = required_headcount(workload, CFG, reps).set_index("role")
    assert hc.loc["field", "headcount"] == 2  # 1,700 h / 1,300 h per rep = 1.31 → 2
    assert hc.loc["field", "required_fte"] == pytest.approx(1700 / 1300)
    assert hc.loc["inside", "headcount"] == 1  # any work at all needs one rep
    assert hc.loc["digital", "headcount"] == 0
    assert hc.loc["field", "hiring_gap"] == 1 and hc.loc["inside", "reps_on_staff"] == 0


def test_overlay_hours_sit_beside_the_coverage_hours_and_get_their_own_headcount():
    cfg = CFG.model_copy(
        update={
            "overlays": {
                "business_development": OverlayService(hours_per_account=600, capacity_hours=1000),
                "pricing_specialist": OverlayService(hours_per_account=8, capacity_hours=1600),
                "solutions_specialist": OverlayService(hours_per_account=0, capacity_hours=1400),
            }
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "size_bucket": [">=50K", ">=50K", "<5K", "<5K"],
            "coverage_role": ["field", "field", "digital", "digital"],
            "specialist_overlay": [
                "business_development",
                "none",
                "business_development",
                "solutions_specialist",
            ],
        }
    )
    out = account_workload(accounts, cfg).set_index("account_id")
    # the overlay's hours do not change the coverage rep's hours (territories balance on those)
    assert out.loc["a", "workload_hours"] == pytest.approx(53.0)
    assert out["overlay_hours"].tolist() == [600.0, 0.0, 600.0, 0.0]

    hc = required_headcount(out.reset_index(), cfg).set_index("role")
    assert hc.loc["field", "kind"] == "coverage_role" and hc.loc["field", "workload_hours"] == pytest.approx(
        106.0
    )
    bd = hc.loc["business_development"]
    assert bd["kind"] == "specialist_overlay" and bd["accounts"] == 2
    assert bd["workload_hours"] == pytest.approx(1200.0)
    assert bd["required_fte"] == pytest.approx(1.2) and bd["headcount"] == 2  # 1,200 h / 1,000 h → 2
    assert hc.loc["pricing_specialist", "accounts"] == 0 and hc.loc["pricing_specialist", "headcount"] == 0
    # an overlay whose hours are zero needs nobody, even with accounts
    assert (
        hc.loc["solutions_specialist", "accounts"] == 1 and hc.loc["solutions_specialist", "headcount"] == 0
    )
    assert list(hc.index[:4]) == ["key_account_manager", "field", "inside", "digital"]

    # specialists on staff (contract rep role `specialist`) are shared over the overlays by headcount
    reps = pd.DataFrame({"rep_id": ["s1", "s2", "s3", "f1"], "role": ["specialist"] * 3 + ["field"]})
    staffed = required_headcount(out.reset_index(), cfg, reps).set_index("role")
    overlays = staffed[staffed["kind"] == "specialist_overlay"]
    assert overlays["reps_on_staff"].to_dict() == {
        "business_development": 3,
        "pricing_specialist": 0,
        "solutions_specialist": 0,
    }
    assert overlays.loc["business_development", "hiring_gap"] == -1  # needs 2, three on staff
    assert staffed.loc["field", "reps_on_staff"] == 1


def test_share_out_is_proportional_and_sums_to_the_total():
    assert share_out(5, np.array([3, 1, 0])).tolist() == [4, 1, 0]  # 3.75, 1.25, 0: the .75 gets the spare
    assert share_out(7, np.array([8, 8, 7])).tolist() == [3, 2, 2]  # 2.43, 2.43, 2.13: tie to the first
    assert share_out(2, np.array([0, 0, 0])).tolist() == [1, 1, 0]
    assert share_out(0, np.array([1, 2])).tolist() == [0, 0]


def test_unknown_overlay_names_the_account():
    accounts = pd.DataFrame(
        {
            "account_id": ["x"],
            "size_bucket": ["<5K"],
            "coverage_role": ["field"],
            "specialist_overlay": ["wizard"],
        }
    )
    with pytest.raises(WorkloadInputError, match="specialist_overlay.*'x'"):
        account_workload(accounts, CFG)


def test_config_rejects_an_overlay_without_service_hours():
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    del raw["workload"]["overlays"]["pricing_specialist"]
    with pytest.raises(ValidationError, match="pricing_specialist"):
        PlanConfig.model_validate(raw)
