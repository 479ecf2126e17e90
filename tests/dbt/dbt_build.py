"""Run `dbt build` of the covplan project in-process against a given DuckDB warehouse (tests only)."""

from __future__ import annotations

import os
from pathlib import Path

from dbt.cli.main import dbtRunner

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def run_dbt_build(
    warehouse: Path, work_dir: Path, extra_args: list[str] | None = None, env: dict[str, str] | None = None
) -> None:
    """Run one `dbt build` of the project against `warehouse` (or the target `env` selects, e.g.
    DBT_TARGET=postgres with PG* variables); raise with the failed nodes if any."""
    env = {"COVPLAN_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        result = dbtRunner().invoke(
            [
                "build",
                "--project-dir", str(DBT_DIR),
                "--profiles-dir", str(DBT_DIR),
                "--target-path", str(work_dir / "target"),
                "--log-path", str(work_dir / "logs"),
                *(extra_args or []),
            ]
        )  # fmt: skip
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if not result.success:
        failed = []
        if result.result is not None and hasattr(result.result, "results"):
            failed = [
                f"{r.node.unique_id}: {r.status} {r.message}"
                for r in result.result.results
                if str(r.status) not in ("success", "pass")
            ]
        raise AssertionError(f"dbt build failed: {result.exception or ''}\n" + "\n".join(failed))
