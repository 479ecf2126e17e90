"""BI test set-up, once per session: the small demo plan, a Superset in its own venv, PostgreSQL.

Superset and the old DuckDB reader live in their own virtual environments (bi/superset/setup.sh,
OLD_DUCKDB below), never in the project's; outside CI a missing one skips these tests, under .ci/run
it fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The oldest DuckDB the published file promises to open in (config publish.storage_compatibility_version).
OLD_DUCKDB = "duckdb==1.0.*"


def superset_venv_path() -> Path:
    return Path(os.environ.get("COVPLAN_SUPERSET_VENV") or Path.home() / ".cache" / "covplan-superset")


@pytest.fixture(scope="session")
def superset_venv(require_service) -> Path:
    venv = superset_venv_path()
    if not (venv / "bin" / "python").exists() or not (venv / "metadata-template" / "superset.db").exists():
        require_service(f"Superset venv ({venv})", "run bash bi/superset/setup.sh (.ci/run does)")
    return venv


@pytest.fixture(scope="session")
def old_duckdb_python(require_service, tmp_path_factory) -> Path:
    """python of a cached venv with the oldest supported duckdb, created from the registry if missing."""
    venv = Path(os.environ.get("COVPLAN_OLD_DUCKDB_VENV") or Path.home() / ".cache" / "covplan-duckdb-old")
    python = venv / "bin" / "python"
    if not python.exists():
        made = subprocess.run(
            f'uv venv -q --python python3.11 "{venv}" && uv pip install -q --python "{python}" "{OLD_DUCKDB}" pytz',
            shell=True,
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            require_service(f"a venv with {OLD_DUCKDB}", made.stderr.strip()[-500:] or "uv failed")
    return python


@pytest.fixture(scope="session")
def demo_plan(tmp_path_factory) -> Path:
    """The small demo plan, built once for all BI tests by the README's command; returns its --out.

    COVPLAN_TEST_PLAN_DIR=DIR (the --out of an earlier `covplan plan --size small`) copies that plan
    instead of building one, to iterate on these tests; the copy is what the tests change."""
    out = tmp_path_factory.mktemp("bi-plan")
    if reuse := os.environ.get("COVPLAN_TEST_PLAN_DIR"):
        for name in ("warehouse.duckdb", "published"):
            src = Path(reuse) / name
            if src.is_dir():  # `published/parquet` is a link to a folder beside it: copy the link
                shutil.copytree(src, out / name, symlinks=True)
            else:
                shutil.copy(src, out / name)
        return out
    cmd = [sys.executable, "-m", "orchestration.cli", "plan", "--size", "small", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "COVPLAN_PUBLISH_PG_URL"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def pg_session_url(pg_admin_url):
    """A PostgreSQL database for the whole BI session (the publish target Superset reads)."""
    import sqlalchemy as sa

    name = f"covplan_bi_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'create database "{name}"'))
    try:
        yield sa.engine.make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="session")
def superset(superset_venv, tmp_path_factory):
    """One Superset app for the session, driven through its REST API (tests/bi/superset_client.py)."""
    from superset_client import Superset

    app = Superset(superset_venv, tmp_path_factory.mktemp("superset-home"))
    yield app
    app.close()
