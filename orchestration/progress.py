"""What a person sees while `covplan plan` runs: one line per stage with its timing, a progress bar for
the dbt build, failed checks as they happen. A Dagster logger, so it reads the same structured events
the UI shows; the CLI enables it through run config, other runs keep Dagster's default console logger.
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

STAGE_NAMES = {  # quality suites first: their step keys start with the asset they check
    **{
        f"raw_{e}_suite": f"quality     raw {e} suite (great-expectations)"
        for e in ("accounts", "contacts", "reps", "opportunities", "transactions")
    },
    **{
        f"plan_{s}_suite": f"quality     plan {s} suite (great-expectations)"
        for s in ("scores", "segments", "capacity", "assignment", "goals")
    },
    "ingest_source": "ingest      source → raw tables (+ quarantine)",
    "dbt_warehouse": "warehouse   dbt build: staging, intermediate, marts + tests",
    "growth_scores": "ml          growth-potential model + backtest",
    "account_segments": "ml          segments and coverage tiers",
    "account_workload_hours": "planning    workload hours and headcount",
    "territory_design": "planning    territory design",
    "territory_goals": "planning    territory goals",
    "published_plan": "publish     plan tables → DuckDB + Parquet",
}


# an info message starting with this is shown on the CLI too (e.g. "raw tables reused from load ...")
SHOWN = "» "


def stage_name(step_key: str) -> str:
    for key, name in STAGE_NAMES.items():
        if step_key.startswith(key) or step_key.endswith(key):
            return name
    return step_key


class ProgressHandler(logging.Handler):
    """Turns Dagster step events into short lines; counts dbt models and checks into a bar."""

    def __init__(self, dbt_nodes: int, stream=None):
        super().__init__(level=logging.DEBUG)
        # the real terminal: the CLI sends sys.stdout (dbt's echoed log) to a log file during the run
        self.stream = stream or sys.__stdout__
        self.dbt_nodes = max(dbt_nodes, 1)
        self.started: dict[str, float] = {}
        self.done_in_step: dict[str, int] = {}
        self.failed_checks: list[str] = []
        self.tty = self.stream.isatty()

    def _write(self, text: str, end: str = "\n") -> None:
        self.stream.write(text + end)
        self.stream.flush()

    def _bar(self, step: str) -> None:
        done = self.done_in_step.get(step, 0)
        width = 30
        filled = min(width, int(width * done / self.dbt_nodes))
        elapsed = time.perf_counter() - self.started.get(step, time.perf_counter())
        line = f"    [{'#' * filled}{'.' * (width - filled)}] {done}/{self.dbt_nodes} models and tests  {elapsed:5.1f} s"
        if self.tty:
            self._write("\r" + line, end="")
        elif done % max(self.dbt_nodes // 4, 1) == 0:
            self._write(line)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            message = str(meta.get("orig_message", record.getMessage()))
            if record.levelno >= logging.WARNING:
                self._write(f"    ! {message}")
            elif message.startswith(SHOWN):
                self._write(f"    {message}")
            return
        step = event.step_key or ""
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = time.perf_counter()
            self._write(f"  ▶ {stage_name(step)}")
        elif kind in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION") and step.startswith("dbt_warehouse"):
            self.done_in_step[step] = self.done_in_step.get(step, 0) + 1
            self._bar(step)
        if kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if data is not None and not data.passed:
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                self.failed_checks.append(name)
                if self.tty:
                    self._write("")
                self._write(f"    ✘ check failed: {name}")
        elif kind == "STEP_SUCCESS":
            took = time.perf_counter() - self.started.get(step, time.perf_counter())
            if self.tty and step.startswith("dbt_warehouse"):
                self._write("")
            self._write(f"    ✔ done in {took:.1f} s")
        elif kind == "STEP_FAILURE":
            if self.tty:
                self._write("")
            error = event.event_specific_data.error if event.event_specific_data else None
            while error is not None and error.cause is not None:  # the user-facing cause, not the wrapper
                error = error.cause
            message = (
                error.message.strip().splitlines()[0] if error and error.message else "see the Dagster UI"
            )
            self._write(f"    ✘ {stage_name(step)} failed: {message}")


@dg.logger(
    config_schema={
        "dbt_nodes": dg.Field(int, default_value=1, description="models + tests the dbt build runs")
    },
    description="Compact stage-by-stage progress for the covplan CLI.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.getLogger(f"covplan.progress.{init_context.run_id}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.handlers = [ProgressHandler(init_context.logger_config["dbt_nodes"])]
    return log
