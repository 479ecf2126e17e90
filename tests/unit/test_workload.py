import pandas as pd
import pytest

from planning.config import load_config
from planning.workload import WorkloadInputError, account_workload, required_headcount

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
