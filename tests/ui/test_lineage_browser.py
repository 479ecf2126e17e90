"""Level 4, UI: an auditor opens the lineage of the published plan in the Dagster webserver and sees its
whole upstream chain: raw sources, dbt marts, the growth model, planning and publish assets."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]
# Names the graph shows in full (it shortens long ones, e.g. "stg…__transactions"), one or more per
# layer: raw sources, dbt staging and marts, the model, planning and publish; and the group boxes.
UPSTREAM = [
    "raw_transactions",
    "raw_accounts",
    "stg_crm__accounts",
    "dim_accounts",
    "fct_account_value",
    "growth_scores",
    "account_segments",
    "territory_design",
    "territory_goals",
    "published_plan",
]
GROUPS = ["ingest", "warehouse", "ml", "planning", "publish"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "local" / "dagster.yaml").read_text())
    port = _free_port()
    log = open(home / "webserver.log", "w")  # noqa: SIM115 -- open for the whole fixture, closed below
    exe = Path(sys.executable).with_name("dagster-webserver")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "COVPLAN_WAREHOUSE": str(home / "warehouse.duckdb"),
        "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # dagster-dbt looks for `dbt` there
    }
    proc = subprocess.Popen(
        [str(exe), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed as a whole below (it ignores SIGTERM at times)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(base + "/server_info", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "dagster-webserver did not start:\n" + (home / "webserver.log").read_text()[-3000:]
                    )
                time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()


def test_published_plan_lineage_reaches_the_raw_sources(webserver, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 2400, "height": 1400})
            page.goto(
                webserver + "/assets/published_plan?view=lineage&lineageScope=upstream&lineageDepth=20",
                wait_until="networkidle",
            )
            skip = page.get_by_role("button", name="Skip")
            if skip.count():
                skip.first.click()
            page.get_by_role("button", name="Upstream").wait_for(state="visible", timeout=60_000)
            for name in UPSTREAM + GROUPS:
                page.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=60_000)
            page.screenshot(path=str(tmp_path / "published_plan_lineage.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "published_plan_lineage.png").stat().st_size > 10_000
