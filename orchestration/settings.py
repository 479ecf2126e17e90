"""Where things live: the warehouse file, the published plan, the plan config and the Dagster home.

One environment variable names each location so the dbt profile, the Dagster resources and the CLI
agree: COVPLAN_WAREHOUSE (default data/warehouse.duckdb), COVPLAN_PUBLISHED_DIR (default: `publish.dir`
of the config), COVPLAN_CONFIG (default config/plan.yaml). Relative paths are taken from the project
root, and the resolved absolute path is written back so dbt (run in dbt_project/) sees the same file.
"""

from __future__ import annotations

import os
from pathlib import Path

from planning.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, WarehouseConfig

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"
LOCAL_INSTANCE_YAML = PROJECT_ROOT / "deploy" / "local" / "dagster.yaml"


def _absolute(value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def warehouse_path() -> Path:
    """The DuckDB warehouse file; also exported as an absolute COVPLAN_WAREHOUSE for dbt."""
    path = _absolute(os.environ.get("COVPLAN_WAREHOUSE") or DEFAULT_WAREHOUSE)
    os.environ["COVPLAN_WAREHOUSE"] = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


DUCKDB_ENV = {
    "memory_limit": "COVPLAN_DUCKDB_MEMORY_LIMIT",
    "temp_directory": "COVPLAN_DUCKDB_TEMP_DIRECTORY",
    "threads": "COVPLAN_DUCKDB_THREADS",
}


def duckdb_settings(cfg: WarehouseConfig, warehouse: Path) -> dict[str, str | int]:
    """DuckDB settings of `warehouse: ...` in the config, resolved (temp folder absolute, threads a
    number), and exported as COVPLAN_DUCKDB_* so dbt's profile applies the same limits."""
    temp = (
        _absolute(cfg.temp_directory) if cfg.temp_directory else warehouse.with_name(warehouse.name + ".tmp")
    )
    values: dict[str, str | int] = {
        "memory_limit": cfg.memory_limit.replace(" ", ""),
        "temp_directory": str(temp),
        "threads": int(cfg.threads or os.cpu_count() or 1),
    }
    for key, env in DUCKDB_ENV.items():
        os.environ[env] = str(values[key])
    return values


def config_path() -> Path:
    return _absolute(os.environ.get("COVPLAN_CONFIG") or DEFAULT_CONFIG_PATH)


def published_dir(configured: str) -> Path:
    """COVPLAN_PUBLISHED_DIR if set, else the config's `publish.dir`, from the project root."""
    return _absolute(os.environ.get("COVPLAN_PUBLISHED_DIR") or configured)


def ensure_dagster_home(home: Path | None = None) -> Path:
    """A persistent Dagster home (runs survive and show in `dagster dev`), with telemetry off.

    DAGSTER_HOME must be absolute, so the CLI also writes it to the project's `.env`, which
    `dagster dev` reads from the working directory.
    """
    home = _absolute(home or os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME)
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():  # the committed local instance config: SQLite storage, telemetry off
        instance_yaml.write_text(LOCAL_INSTANCE_YAML.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def write_dotenv_dagster_home(home: Path) -> None:
    """Record DAGSTER_HOME in the project's .env (kept out of git) so `uv run dagster dev` finds the runs."""
    dotenv = PROJECT_ROOT / ".env"
    lines = dotenv.read_text().splitlines() if dotenv.exists() else []
    lines = [line for line in lines if not line.startswith("DAGSTER_HOME=")]
    lines.append(f"DAGSTER_HOME={home}")
    dotenv.write_text("\n".join(lines) + "\n")


def draft_report_path(run_id: str) -> Path:
    """Where a run's plan report is drafted before the publish step decides whether to promote it."""
    return warehouse_path().parent / "reports" / f"report-{run_id}.html"
