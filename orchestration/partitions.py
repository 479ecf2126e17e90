"""Quarterly partitions for the assets whose meaning is "as of a quarter".

A partition's key is its quarter's first day, and that day is the plan's as-of date: the dbt project
gets it as the var `as_of_date` and every mart then uses only data before it, so materialising a past
partition (a backfill from the UI, `dagster asset materialize --partition`, or `covplan plan --as-of`)
rebuilds that quarter's plan. Ingest is not partitioned: the raw tables are the latest extract.

Partitions are calendar quarters (the dbt var must be a quarter start); the fiscal calendar
(`plan.fiscal_year_start_month`) labels fiscal years and quarters in the goals. The current quarter is
a partition too (end_offset=1): its plan uses the complete quarters before it.

How much history a plan needs: dbt's first feature cut-off has a full trailing year behind it, the
growth model's backtest origin needs its four-quarter label observed by the as-of date, and its
training cut-offs end `growth_model.horizon_quarters` before the origin. So the earliest plannable
as-of date is the first quarter with orders + 4 + 4 + horizon quarters (`earliest_as_of`). With
`schedules.first_as_of_date: null` the partitions start there for the demo history; a run for a
quarter with less history stops before any ingest or dbt work (`check_history`), naming the earliest
as-of date the data supports and what to change.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from orchestration import settings
from planning.config import PlanConfig, load_config

TRAILING_QUARTERS = 4  # int_plan_calendar: the first cut-off has a full trailing year of orders behind it
LABEL_QUARTERS = 4  # label_revenue_next_4q: a backtest origin's label must end by the as-of date


class AsOfError(ValueError):
    """An as-of date that is not a quarter start, or outside the partitions."""


class AsOfHistoryError(AsOfError):
    """The data has too little order history before the as-of date to train the growth model."""


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_quarter_start(day: date) -> date:
    start = quarter_start(day)
    return date(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1)


def add_quarters(day: date, quarters: int) -> date:
    start = quarter_start(day)
    months = start.year * 12 + start.month - 1 + 3 * quarters
    return date(months // 12, months % 12 + 1, 1)


def quarters_of_history(horizon_quarters: int) -> int:
    """Quarters of orders a plan needs before its as-of date (see the module docstring)."""
    return TRAILING_QUARTERS + LABEL_QUARTERS + horizon_quarters


def earliest_as_of(first_order_day: date, horizon_quarters: int) -> date:
    """The first as-of date whose history (orders from `first_order_day`) the growth model can use."""
    return add_quarters(first_order_day, quarters_of_history(horizon_quarters))


def demo_history(cfg: PlanConfig) -> tuple[date, date]:
    """First and last day of the demo's order history (sources.demo: `years` years up to end_date)."""
    end = pd.Timestamp(cfg.demo.end_date)
    return (end - pd.DateOffset(months=12 * cfg.demo.years) + pd.Timedelta(days=1)).date(), end.date()


def first_partition(cfg: PlanConfig) -> date:
    """`schedules.first_as_of_date`, or (null) the earliest as-of date the demo history supports."""
    if cfg.schedules.first_as_of_date is not None:
        return cfg.schedules.first_as_of_date
    return earliest_as_of(demo_history(cfg)[0], cfg.growth_model.horizon_quarters)


def check_history(as_of: date, first_order_day: date, cfg: PlanConfig, source: str) -> None:
    """Stop a plan whose as-of date has too little order history before it, in one line that names
    the earliest as-of date the data supports and what to change. Cheap: no data is read."""
    h = cfg.growth_model.horizon_quarters
    earliest = earliest_as_of(first_order_day, h)
    if as_of >= earliest:
        return
    fix = (
        "raise demo.years (or move demo.end_date) in config/plan.yaml"
        if source == "demo"
        else "load more order history"
    )
    raise AsOfHistoryError(
        f"as-of date {as_of} is too early for the {source} data: a plan needs "
        f"{quarters_of_history(h)} quarters of orders before its as-of date (a trailing year, a "
        f"4-quarter label and growth_model.horizon_quarters={h} to train on), and the orders start "
        f"{first_order_day}, so the earliest as-of date it supports is {earliest}; "
        f"use --as-of {earliest} or later, or {fix}"
    )


def check_demo_as_of(as_of: date, cfg: PlanConfig) -> None:
    """The demo's as-of date must have enough history before it and no quarter without data after
    the history ends (a plan as of a later quarter would read an empty quarter as lost revenue)."""
    first, last = demo_history(cfg)
    check_history(as_of, first, cfg, "demo")
    latest = next_quarter_start(last)
    if as_of > latest:
        raise AsOfHistoryError(
            f"as-of date {as_of} is after the demo history, which ends {last}: the latest as-of date "
            f"it supports is {latest}; use --as-of {latest} or earlier, or move demo.end_date in "
            "config/plan.yaml"
        )


def build_partitions() -> dg.TimeWindowPartitionsDefinition:
    cfg = load_config(settings.config_path())
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 1 1,4,7,10 *",
        start=datetime.combine(first_partition(cfg), datetime.min.time()),
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


def partition_of(moment: datetime) -> str | None:
    """The key of the quarter `moment` falls in, or None before the first partition (Dagster's
    end_offset would otherwise offer the first, future partition to a tick that fires earlier)."""
    key = quarter_start(moment.date()).isoformat()
    return key if key in quarterly_partitions.get_partition_keys(current_time=moment) else None


def parse_as_of(as_of: date | str) -> date:
    """An as-of date from text or a date; AsOfError when it is not a date or not a quarter start."""
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
    return day


def as_of_partition_key(as_of: date | str, now: datetime | None = None) -> str:
    """The partition key for an as-of date; AsOfError says which dates are allowed."""
    text = parse_as_of(as_of).isoformat()
    keys = quarterly_partitions.get_partition_keys(current_time=now)
    if text not in keys:
        span = f"{keys[0]} … {keys[-1]}" if keys else "(none yet)"
        if keys and text > keys[-1]:
            why = "a plan cannot be as of a quarter that has not started"
        elif load_config(settings.config_path()).schedules.first_as_of_date is None:
            why = (
                "they start at the earliest as-of date the demo history supports; raise demo.years "
                "in config/plan.yaml for earlier quarters (or set schedules.first_as_of_date for "
                "another source)"
            )
        else:
            why = "change schedules.first_as_of_date in config/plan.yaml for earlier quarters"
        raise AsOfError(f"as-of date {text} is outside the quarterly partitions {span}: {why}")
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
