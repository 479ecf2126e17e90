"""`covplan docs` writes the dbt docs (models, columns, tests, lineage) as one static page for auditors."""

import os
import subprocess
import sys


def test_covplan_docs_writes_a_static_page_with_the_marts(tmp_path):
    env = {**os.environ, "COVPLAN_WAREHOUSE": str(tmp_path / "warehouse.duckdb")}
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "docs", "--out", str(tmp_path / "docs")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    page = (tmp_path / "docs" / "static_index.html").read_text()
    for model in ["fct_account_value", "fct_account_features", "int_plan_calendar", "stg_erp__transactions"]:
        assert model in page
    assert "static_index.html" in proc.stdout
