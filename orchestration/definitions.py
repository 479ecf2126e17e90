"""The one Dagster code location: per-area Definitions merged, plus shared resources."""

from __future__ import annotations

import os

import dagster as dg

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

from orchestration import jobs, sensors  # noqa: E402
from orchestration.assets import goals, ingest, ml, planning, publish, quality, warehouse  # noqa: E402
from orchestration.progress import progress_logger  # noqa: E402
from orchestration.resources import build_resources  # noqa: E402

defs = dg.Definitions.merge(
    dg.Definitions(assets=[ingest.ingest_source]),
    quality.defs,
    warehouse.defs,
    ml.defs,
    planning.defs,
    goals.defs,
    publish.defs,
    jobs.build_defs(),
    sensors.build_defs(),
    dg.Definitions(resources=build_resources(), loggers={"covplan_progress": progress_logger}),
)
