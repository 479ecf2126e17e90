"""Quarterly partitions: as-of dates, the default choice of `covplan plan`, and the schedules' runs."""

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.partitions import AsOfError, as_of_partition_key, default_as_of, quarterly_partitions

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_as_of_must_be_a_quarter_start_inside_the_partitions():
    assert as_of_partition_key("2026-04-01", NOW) == "2026-04-01"
    assert as_of_partition_key(date(2026, 10, 1), NOW) == "2026-10-01"  # the current quarter is one
    with pytest.raises(AsOfError, match="not a quarter start.*2026-04-01 or 2026-07-01"):
        as_of_partition_key("2026-05-15", NOW)
    with pytest.raises(AsOfError, match="outside the quarterly partitions 2025-01-01"):
        as_of_partition_key("2027-01-01", NOW)
    with pytest.raises(AsOfError, match="first_as_of_date"):
        as_of_partition_key("2020-01-01", NOW)
    with pytest.raises(AsOfError, match="YYYY-MM-DD"):
        as_of_partition_key("last quarter", NOW)


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
        ("quarterly_plan_schedule", datetime(2026, 7, 1, 5, tzinfo=UTC), "2026-07-01"),
    ],
)
def test_schedule_ticks_run_the_partition_of_their_quarter(name, tick, key):
    schedule = defs.resolve_schedule_def(name)
    repo = defs.get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [key]
