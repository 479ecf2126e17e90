"""A local Spark standalone cluster (master, worker, Thrift server) for the tests, one per session.

Started by scripts/spark-cluster with every file it writes under the session's temporary folder.
Skipped outside CI (it takes minutes); under .ci/run (COVPLAN_CI set) a cluster that cannot start fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.spark_cluster import SCRIPT, cluster_env, cluster_processes

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dbt"))  # dbt_build, make_fixture


@dataclass(frozen=True)
class SparkCluster:
    thrift_port: int
    directory: Path

    def dbt_env(self, raw_location: Path | str) -> dict[str, str]:
        """Environment for a `dbt build` on this cluster (profile target `spark`)."""
        return {
            "DBT_TARGET": "spark",
            "COVPLAN_SPARK_HOST": "127.0.0.1",
            "COVPLAN_SPARK_PORT": str(self.thrift_port),
            "COVPLAN_SPARK_RAW_LOCATION": str(raw_location),
        }


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory, require_service) -> Iterator[SparkCluster]:
    """Start the cluster once for the session and stop it afterwards."""
    if not (os.environ.get("CI") or os.environ.get("COVPLAN_CI")):
        pytest.skip(
            "Spark cluster tests run under .ci/run (set COVPLAN_CI=1 to run them here; takes minutes)"
        )
    try:
        import pyhive  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        require_service("the `spark` extra (pyspark, dbt-spark)", "uv sync --extra spark")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        require_service("Java 17+", "apt-get install -y openjdk-17-jre-headless")
    directory = tmp_path_factory.mktemp("spark_cluster")
    env = cluster_env(directory)
    up = subprocess.run([str(SCRIPT), "up"], env=env, capture_output=True, text=True)
    try:
        if up.returncode != 0:
            require_service("a local Spark cluster", f"scripts/spark-cluster up failed: {up.stderr[-3000:]}")
        yield SparkCluster(thrift_port=int(env["COVPLAN_SPARK_PORT"]), directory=directory)
    finally:
        down = subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, text=True)
        # A JVM left running would hold ports, memory and CPU for the rest of CI and beyond: an error here.
        left = cluster_processes(directory)
        if down.returncode != 0 or left:
            pytest.fail(
                f"scripts/spark-cluster down left the cluster's JVMs {left} running: {down.stderr[-2000:]}"
            )
