"""The committed Dagster instance configs load: local SQLite (used by covplan) and the PostgreSQL one."""

import dagster as dg
import yaml

from orchestration import settings
from planning.config import PROJECT_ROOT


def test_local_instance_is_sqlite_without_telemetry(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))  # restored after the test
    home = settings.ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == settings.LOCAL_INSTANCE_YAML.read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert str(home) in instance.run_storage._conn_string
        assert not instance.telemetry_enabled
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_postgres_instance_config_is_complete_and_uses_psycopg2():
    cfg = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    db = cfg["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2"  # STACK.md §17: psycopg 3 fails under SQLAlchemy 2.1
    assert {k for k, v in db.items() if isinstance(v, dict)} == {
        "hostname",
        "port",
        "db_name",
        "username",
        "password",
    }
    assert cfg["compute_logs"]["config"]["base_dir"] == {"env": "DAGSTER_COMPUTE_LOGS_DIR"}
    assert cfg["telemetry"]["enabled"] is False


def test_dbt_profile_examples_parse_and_name_their_adapters():
    profiles = yaml.safe_load((PROJECT_ROOT / "deploy" / "dbt_profiles.example.yml").read_text())
    outputs = profiles["covplan"]["outputs"]
    assert {o["type"] for o in outputs.values()} == {"snowflake", "spark"}
