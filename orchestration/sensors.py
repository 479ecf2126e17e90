"""Sensors next to the jobs they start: a new complete extract in the file-drop folder starts the
quarterly refresh on it (docs/sources.md: what counts as complete)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration import settings
from orchestration.jobs import kind_config, quarterly_plan
from orchestration.partitions import partition_of
from planning.config import PROJECT_ROOT, load_config
from sources.files import extract_status


def drop_folder() -> tuple[Path, float]:
    """The watched folder (`sources.files.dir`, from the project root) and its settle time."""
    cfg = load_config(settings.config_path()).sources.files
    return PROJECT_ROOT / Path(cfg.dir).expanduser(), float(cfg.settle_seconds)


@dg.sensor(
    job=quarterly_plan,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts quarterly_plan on the file-drop folder when a new complete extract arrives "
    "(_SUCCESS marker written after the files, or files unchanged for sources.files.settle_seconds).",
)
def file_drop_sensor(context: dg.SensorEvaluationContext):
    folder, settle = drop_folder()
    status, fingerprint = extract_status(folder, settle, time.time())
    last = json.loads(context.cursor)["started"] if context.cursor else ""
    if status != "complete":
        return dg.SkipReason(
            f"{folder}: extract {status} (needs accounts + transactions, then _SUCCESS or quiet)"
        )
    if fingerprint == last:
        return dg.SkipReason(f"{folder}: extract {fingerprint} already started")
    # partitions follow the schedules' timezone: the quarter that has started there
    partition = partition_of(datetime.now(ZoneInfo(load_config(settings.config_path()).schedules.timezone)))
    if partition is None:
        return dg.SkipReason("no quarterly partition yet: see schedules.first_as_of_date")
    run_config = kind_config("quarterly")
    run_config["ops"]["ingest_source"] = {"config": {"source": "files", "input_dir": str(folder)}}
    context.update_cursor(json.dumps({"started": fingerprint}))
    # the plan is as of the current quarter: it uses the complete quarters of the extract before it
    return dg.RunRequest(
        run_key=f"extract-{fingerprint}",
        run_config=run_config,
        tags={"extract": fingerprint},
        partition_key=partition,
    )


def build_defs() -> dg.Definitions:
    return dg.Definitions(sensors=[file_drop_sensor])
