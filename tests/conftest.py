"""Shared test set-up: quiet third-party telemetry, and a parsed dbt manifest before Definitions import."""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from orchestration.cli import prepare_dbt  # noqa: E402

prepare_dbt()
