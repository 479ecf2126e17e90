"""Quarterly partitions: as-of dates, the default choice of `covplan plan`, and the schedules' runs."""

from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd
import pytest

from orchestration import settings
from orchestration.definitions import defs
from orchestration.partitions import (
    AsOfError,
    AsOfHistoryError,
    as_of_partition_key,
    check_demo_as_of,
    check_history,
    default_as_of,
    demo_history,
    earliest_as_of,
    first_partition,
    quarterly_partitions,
)
from planning.config import load_config

NOW = datetime(2026, 11, 25, tzinfo=UTC)


# The first quarter the default demo can plan: its orders start demo.years before 2026-09-30 and a plan
# needs 12 quarters of them (trailing year, label year, 4 training quarters for the growth model).
# Known answers for the two history lengths the project uses; 2026-07-01 on 3 years fails in the growth
# model (8 cut-offs, 9 needed), 2025-10-01 on 4 years builds (checked with `covplan plan --as-of`).
FIRST = {3: "2026-10-01", 4: "2025-10-01"}[load_config(settings.config_path()).demo.years]
ALL_KEYS = ["2025-10-01", "2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"]


def test_default_partitions_are_the_quarters_the_default_demo_can_plan():
    keys = quarterly_partitions.get_partition_keys(current_time=NOW)
    assert keys == ALL_KEYS[ALL_KEYS.index(FIRST) :]
    assert as_of_partition_key("2026-10-01", NOW) == "2026-10-01"
    assert as_of_partition_key(date(2026, 10, 1), NOW) == "2026-10-01"  # the current quarter is one
    with pytest.raises(AsOfError, match="not a quarter start.*2026-04-01 or 2026-07-01"):
        as_of_partition_key("2026-05-15", NOW)
    with pytest.raises(
        AsOfError, match=f"outside the quarterly partitions {FIRST} … 2026-10-01: a plan cannot"
    ):
        as_of_partition_key("2027-01-01", NOW)
    before = (pd.Timestamp(FIRST) - pd.DateOffset(months=3)).date()
    with pytest.raises(AsOfError, match=f"outside the quarterly partitions {FIRST}.*raise demo.years"):
        as_of_partition_key(before, NOW)
    with pytest.raises(AsOfError, match="YYYY-MM-DD"):
        as_of_partition_key("last quarter", NOW)


def test_earliest_as_of_follows_the_history_and_the_model_horizon():
    assert earliest_as_of(date(2023, 10, 1), 4) == date(2026, 10, 1)
    assert earliest_as_of(date(2022, 10, 1), 4) == date(2025, 10, 1)
    assert earliest_as_of(date(2023, 11, 15), 2) == date(2026, 4, 1)  # quarter of the first order + 10
    cfg = load_config(overrides={"demo.years": 3})
    assert demo_history(cfg) == (date(2023, 10, 1), date(2026, 9, 30))
    assert first_partition(cfg) == date(2026, 10, 1)
    four = load_config(overrides={"demo.years": 4})
    assert demo_history(four)[0] == date(2022, 10, 1) and first_partition(four) == date(2025, 10, 1)
    fixed = load_config(overrides={"schedules.first_as_of_date": "2026-04-01"})
    assert first_partition(fixed) == date(2026, 4, 1)  # a real source's first quarter, set by hand


def test_a_quarter_without_enough_history_is_one_line_naming_the_earliest_date():
    cfg = load_config(overrides={"demo.years": 3})
    check_demo_as_of(date(2026, 10, 1), cfg)
    with pytest.raises(AsOfHistoryError) as err:
        check_demo_as_of(date(2025, 4, 1), cfg)
    message = str(err.value)
    assert "\n" not in message and "orders start 2023-10-01" in message
    assert "earliest as-of date it supports is 2026-10-01" in message and "raise demo.years" in message
    four = load_config(overrides={"demo.years": 4})
    check_demo_as_of(date(2025, 10, 1), four)
    with pytest.raises(AsOfHistoryError, match="supports is 2025-10-01"):
        check_demo_as_of(date(2025, 7, 1), four)
    with pytest.raises(AsOfHistoryError, match="after the demo history, which ends 2026-09-30"):
        check_demo_as_of(date(2027, 1, 1), cfg)
    with pytest.raises(AsOfHistoryError, match="orders start 2025-02-03.*supports is 2028-01-01.*more order"):
        check_history(date(2027, 1, 1), date(2025, 2, 3), cfg, "files")


def test_cli_stops_before_any_work_on_a_quarter_without_history(tmp_path, capsys):
    from orchestration.cli import main

    assert main(["plan", "--size", "small", "--as-of", "2025-04-01", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"earliest as-of date it supports is {FIRST}" in err
    assert not (tmp_path / "warehouse.duckdb").exists() and not (tmp_path / "published").exists()


def test_default_as_of_is_the_quarter_after_the_data_but_not_in_the_future():
    assert default_as_of(None, date(2026, 9, 30), NOW) == date(2026, 10, 1)
    assert default_as_of(None, date(2026, 5, 3), NOW) == date(2026, 7, 1)
    assert default_as_of(None, date(2027, 3, 1), NOW) == date(2026, 10, 1)
    assert default_as_of(None, None, NOW) == date(2026, 10, 1)
    assert default_as_of(date(2026, 1, 1), date(2026, 9, 30), NOW) == date(2026, 1, 1)


def test_everything_after_ingest_is_partitioned_by_quarter():
    graph = defs.resolve_asset_graph()
    for key in [
        "marts/fct_account_value",
        "growth_scores",
        "territory_design",
        "territory_goals",
        "published_plan",
    ]:
        assert graph.get(dg.AssetKey.from_user_string(key)).partitions_def == quarterly_partitions, key
    assert graph.get(dg.AssetKey("raw_transactions")).partitions_def is None


@pytest.mark.parametrize(
    ("name", "tick", "key"),
    [
        ("yearly_plan_schedule", datetime(2027, 1, 1, 5, tzinfo=UTC), "2027-01-01"),
        ("quarterly_plan_schedule", datetime(2026, 10, 1, 5, tzinfo=UTC), "2026-10-01"),
        # before the first partition on 3 years of demo history
        (
            "quarterly_plan_schedule",
            datetime(2026, 7, 1, 5, tzinfo=UTC),
            None if FIRST > "2026-07-01" else "2026-07-01",
        ),
    ],
)
def test_schedule_ticks_run_the_partition_of_their_quarter(name, tick, key):
    schedule = defs.resolve_schedule_def(name)
    repo = defs.get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo) as context:
        result = schedule.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests] == ([key] if key else [])
    if key is None:
        assert f"they start {FIRST}" in result.skip_message
