"""scripts/spark-cluster down leaves no JVM behind, even when the worker died first and its executor was
orphaned (a stray executor keeps a core and 2 GB busy for as long as the machine runs).

Its own small cluster, separate from the session's: it must be able to kill the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from orchestration.spark_cluster import SCRIPT, cluster_env, cluster_processes


def _run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=400)


def _pid_file(directory, daemon: str) -> int:
    return int((directory / "pids" / f"spark-covplan-{daemon}-1.pid").read_text())


def _parent(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def test_down_stops_every_jvm_even_after_the_worker_died(spark_cluster, tmp_path):
    # spark_cluster: only so this runs where the cluster tests run (CI), with the same checks on Java.
    directory = tmp_path / "lifecycle"
    env = {
        **cluster_env(directory),
        "COVPLAN_SPARK_EXECUTOR_MEMORY": "512m",
        "COVPLAN_SPARK_DRIVER_MEMORY": "512m",
    }
    try:
        up = _run("up", env)
        assert up.returncode == 0, up.stderr[-2000:]
        worker = _pid_file(directory, "org.apache.spark.deploy.worker.Worker")
        # master, worker, Thrift server, and the executor the worker forks once the Thrift application
        # registers with the master (seconds after `up` returns at most)
        deadline = time.monotonic() + 120
        while len(running := cluster_processes(directory)) < 4 and time.monotonic() < deadline:
            time.sleep(1)
        assert len(running) == 4 and worker in running, running
        executors = [p for p in running if _parent(p) == worker]
        assert len(executors) == 1, running

        os.kill(worker, signal.SIGKILL)  # the worker crashes: its executor is left without a parent
        deadline = time.monotonic() + 30  # the kernel takes a moment to tear a JVM down
        while worker in cluster_processes(directory) and time.monotonic() < deadline:
            time.sleep(0.2)
        status = _run("status", env)
        assert status.returncode == 1 and "Worker: stopped" in status.stdout, status.stdout

        down = _run("down", env)
        assert down.returncode == 0, down.stderr[-2000:]
        assert "spark-cluster: down" in down.stdout
        assert cluster_processes(directory) == []
        assert not list((directory / "pids").glob("*.pid"))
    finally:
        left = cluster_processes(directory)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert left == []


def test_down_of_a_cluster_that_never_started_is_quiet(tmp_path):
    pytest.importorskip("pyspark", reason="the script finds Spark in the `spark` extra")
    env = cluster_env(tmp_path / "never")
    down = _run("down", env)
    assert down.returncode == 0, down.stderr
    assert cluster_processes(tmp_path / "never") == []
