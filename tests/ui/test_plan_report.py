"""The HTML plan report renders offline in headless Chromium: map points, territory hulls, rep bases, bars."""

import numpy as np
import pandas as pd
import pytest

from planning.report import write_report
from planning.territories import design_territories, staff_territories


@pytest.fixture
def report_path(tmp_path):
    rng = np.random.default_rng(4)
    n = 1500
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(n)],
            "coverage_role": rng.choice(["field", "inside"], n, p=[0.7, 0.3]),
            "workload_hours": rng.gamma(2.0, 8.0, n),
            "lat": rng.uniform(30, 46, n),
            "lon": rng.uniform(-120, -75, n),
            "revenue_t12m": rng.gamma(1.0, 1e4, n),
            "potential": rng.gamma(1.0, 2e4, n),
        }
    )
    first = design_territories(accounts, {"field": 6, "inside": 2}, ["field"], 0.05)
    design = design_territories(
        accounts,
        {"field": 7, "inside": 2},
        ["field"],
        0.05,
        previous=first.assignment[["account_id", "territory_id"]],
    )
    reps = pd.DataFrame(
        {
            "rep_id": [f"R{i}" for i in range(8)],
            "role": ["field"] * 6 + ["inside"] * 2,
            "home_lat": rng.uniform(32, 44, 8),
            "home_lon": rng.uniform(-115, -80, 8),
        }
    )
    territories = staff_territories(design.territories, reps, ["field"])
    segments = pd.DataFrame(
        {
            "size_tier": ["smb", "smb", "national"],
            "coverage_tier": ["digital", "inside_sales", "field_farmer"],
            "accounts": [900, 400, 200],
        }
    )
    headcount = pd.DataFrame({"role": ["field", "inside"], "required_fte": [6.4, 1.7], "headcount": [7, 2]})
    path = tmp_path / "published" / "report.html"
    write_report(
        path,
        accounts=design.accounts,
        territories=territories,
        reps=reps,
        segments=segments,
        headcount=headcount,
        metrics=design.metrics,
        title="test plan",
    )
    return path, design


def test_report_is_self_contained(report_path):
    path, _ = report_path
    text = path.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    assert "<script src" not in text and "<link" not in text


def test_report_renders_map_and_charts_in_chromium(report_path, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    path, design = report_path
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
        page.goto(path.as_uri(), wait_until="load")
        drawn = page.evaluate("window.__report")
        bars = page.locator("svg#workload-chart rect.bar").count()
        value_bars = page.locator("svg#value-chart rect.bar").count()
        # the canvas really has coloured pixels (not a blank map)
        painted = page.evaluate(
            "(() => { const c = document.getElementById('map'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
            " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()"
        )
        matrix = page.get_by_text("Segment × coverage tier").count()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    field = design.accounts[design.accounts["pool"] == "field"]
    assert errors == [] and requests == []
    assert drawn["points"] == len(field)
    assert drawn["hulls"] == 7 and drawn["bases"] == 6
    assert bars == len(design.territories) == value_bars == 9
    assert painted > 1000 and matrix == 1
    assert (tmp_path / "report.png").stat().st_size > 10_000
