"""Quarterly partitions for the assets whose meaning is "as of a quarter".

A partition's key is its quarter's first day, and that day is the plan's as-of date: the dbt project
gets it as the var `as_of_date` and every mart then uses only data before it, so materialising a past
partition (a backfill from the UI, `dagster asset materialize --partition`, or `covplan plan --as-of`)
rebuilds that quarter's plan. Ingest is not partitioned: the raw tables are the latest extract.

Partitions are calendar quarters (the dbt var must be a quarter start); the fiscal calendar
(`plan.fiscal_year_start_month`) labels fiscal years and quarters in the goals. The current quarter is
a partition too (end_offset=1): its plan uses the complete quarters before it.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import dagster as dg

from orchestration import settings
from planning.config import load_config


class AsOfError(ValueError):
    """An as-of date that is not a quarter start, or outside the partitions."""


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_quarter_start(day: date) -> date:
    start = quarter_start(day)
    return date(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1)


def build_partitions() -> dg.TimeWindowPartitionsDefinition:
    cfg = load_config(settings.config_path())
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 1 1,4,7,10 *",
        start=datetime.combine(cfg.schedules.first_as_of_date, datetime.min.time()),
        fmt="%Y-%m-%d",
        end_offset=1,
        timezone=cfg.schedules.timezone,
    )


quarterly_partitions = build_partitions()
# A backfill of several quarters runs one plan per quarter (each its own dbt build and publish).
ONE_PLAN_PER_RUN = dg.BackfillPolicy.multi_run(1)
# `backfill_policy` on @asset is marked beta; the policy we use (one partition per run) is the default
# behaviour of partitioned jobs, so the warning says nothing a user can act on.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function", category=Warning)


def as_of_partition_key(as_of: date | str, now: datetime | None = None) -> str:
    """The partition key for an as-of date; AsOfError says which dates are allowed."""
    text = str(as_of)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise AsOfError(f"as-of date {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-07-01") from None
    if day != quarter_start(day):
        raise AsOfError(
            f"as-of date {text} is not a quarter start: plans are cut at quarter starts, "
            f"e.g. {quarter_start(day)} or {next_quarter_start(day)}"
        )
    keys = quarterly_partitions.get_partition_keys(current_time=now)
    if text not in keys:
        raise AsOfError(
            f"as-of date {text} is outside the quarterly partitions {keys[0]} … {keys[-1]}; "
            "change schedules.first_as_of_date in config/plan.yaml for earlier quarters"
        )
    return text


def default_as_of(configured: date | None, data_end: date | None, now: datetime | None = None) -> date:
    """The as-of date a run uses when none is given: the configured `plan.as_of_date`, else the
    quarter after the latest data (the latest complete quarter), never later than the current quarter."""
    if configured is not None:
        return configured
    current = quarter_start((now or datetime.now(UTC)).date())
    if data_end is None:
        return current
    return min(next_quarter_start(data_end), current)
