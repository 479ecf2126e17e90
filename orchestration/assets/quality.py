"""Quality checks: the great-expectations suites of data_quality/ wired to the assets they guard.

Raw suites guard the model (a failure stops dbt and everything after it); plan-output suites guard the
publish (they sit on assets upstream of published_plan). All are blocking.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb

from data_quality.checks import suite_check
from data_quality.load_log import accept_latest_load, ensure_load_history
from data_quality.suites import (
    RAW_ENTITIES,
    RawLimits,
    Suite,
    assignment_suite,
    capacity_suite,
    goals_suite,
    raw_suite,
    scores_suite,
    segments_suite,
)
from planning.config import PlanConfig


def freshness_as_of(cfg: PlanConfig, con: duckdb.DuckDBPyConnection) -> date:
    """The date the latest order is compared with: `quality.freshness.as_of_date`, else the as-of date
    the row rules used (`sources.as_of_date`), else the day of the load; the demo's history ends on
    `demo.end_date` by construction, so that is its as-of date."""
    if cfg.quality.freshness.as_of_date:
        return cfg.quality.freshness.as_of_date
    if cfg.sources.as_of_date:
        return cfg.sources.as_of_date
    row = con.execute("select _source, _loaded_at from raw.transactions limit 1").fetchone()
    if row and str(row[0]).startswith("demo("):
        return cfg.demo.end_date
    if row and row[1] is not None:
        return row[1].date()
    return date.today()


def raw_builder(entity: str):
    def build(cfg: PlanConfig, con: duckdb.DuckDBPyConnection) -> Suite:
        ensure_load_history(con)
        q = cfg.quality
        limits = RawLimits(
            as_of=freshness_as_of(cfg, con) if entity == "transactions" else date.today(),
            max_age_days=q.freshness.max_age_days,
            min_ratio=q.row_count_change.min_ratio,
            max_ratio=q.row_count_change.max_ratio,
        )
        return raw_suite(entity, limits)

    return build


def _fixed(suite_fn):
    return lambda cfg, con: suite_fn()


RAW_CHECKS = [
    suite_check(
        f"raw_{e}_suite",
        f"raw_{e}",
        raw_builder(e),
        on_pass=lambda cfg, con, e=e: accept_latest_load(con, e),
        description=f"raw.{e}: contract (keys, types, ranges, allowed values), referential integrity, "
        "row-count change versus the previous load" + (", freshness" if e == "transactions" else ""),
    )
    for e in RAW_ENTITIES
]
PLAN_CHECKS = [
    suite_check("plan_scores_suite", "growth_scores", _fixed(scores_suite), description=scores_suite.__doc__),
    suite_check(
        "plan_segments_suite", "account_segments", _fixed(segments_suite), description=segments_suite.__doc__
    ),
    suite_check(
        "plan_capacity_suite",
        "account_workload_hours",
        _fixed(capacity_suite),
        description=capacity_suite.__doc__,
    ),
    suite_check(
        "plan_assignment_suite",
        "territory_design",
        _fixed(assignment_suite),
        description=assignment_suite.__doc__,
    ),
    suite_check("plan_goals_suite", "territory_goals", _fixed(goals_suite), description=goals_suite.__doc__),
]

defs = dg.Definitions(asset_checks=[*RAW_CHECKS, *PLAN_CHECKS])
