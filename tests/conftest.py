"""Shared test set-up: quiet third-party telemetry, and a parsed dbt manifest before Definitions import."""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from orchestration.cli import prepare_dbt  # noqa: E402

prepare_dbt()


import shutil  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402


def _require(what: str, how: str):
    """Outside CI a missing service skips its tests with the reason; under .ci/run it is a failure."""
    if os.environ.get("CI") or os.environ.get("COVPLAN_CI"):
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} not available here: {how}")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """SQLAlchemy URL of a PostgreSQL role that may create databases (.ci/services.sh sets it up)."""
    url = os.environ.get("COVPLAN_TEST_PG_URL")
    if not url:
        _require("PostgreSQL (COVPLAN_TEST_PG_URL)", 'run eval "$(bash .ci/services.sh)" first')
    return url


@pytest.fixture
def pg_database(pg_admin_url):
    """A throwaway PostgreSQL database for one test; yields its SQLAlchemy URL and drops it afterwards."""
    import sqlalchemy as sa

    name = f"covplan_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'create database "{name}"'))
    url = sa.engine.make_url(pg_admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium for browser tests (Playwright cannot download its own browser here)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        _require("chromium", "apt-get install -y chromium (bash .ci/services.sh does)")
    return path


@pytest.fixture(scope="session")
def require_service():
    """`_require` for fixtures in sub-folders: skip outside CI, fail under .ci/run."""
    return _require
