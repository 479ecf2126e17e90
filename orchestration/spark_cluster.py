"""The environment of a local Spark cluster started by scripts/spark-cluster, shared by the test fixture
(tests/spark/conftest.py) and benchmarks/spark.py: free ports, so a second cluster (a CI run beside a
benchmark) never collides with the first, and every file under one folder."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from planning.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "spark-cluster"


def free_ports(n: int) -> list[int]:
    """n distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_env(directory: Path) -> dict[str, str]:
    """os.environ plus the script's settings: its folder and four free ports (Thrift, master, two UIs)."""
    thrift, master, master_ui, worker_ui = free_ports(4)
    return {
        **os.environ,
        "COVPLAN_SPARK_CLUSTER_DIR": str(directory),
        "COVPLAN_SPARK_PORT": str(thrift),
        "COVPLAN_SPARK_MASTER_PORT": str(master),
        "COVPLAN_SPARK_MASTER_UI_PORT": str(master_ui),
        "COVPLAN_SPARK_WORKER_UI_PORT": str(worker_ui),
        "COVPLAN_SPARK_START_TIMEOUT": os.environ.get("COVPLAN_SPARK_START_TIMEOUT", "300"),
    }


def cluster_processes(directory: Path) -> list[int]:
    """PIDs of the JVMs still running for the cluster in `directory` — the daemons and the executors the
    worker forks, whose class path starts with the cluster's conf folder — the same test the script's
    `down` uses, so a caller can check that `down` left nothing behind. (A cluster in a subfolder has a
    conf folder of its own and is not matched.)"""
    marker = f"{Path(directory).resolve()}/conf/"
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "java":
                continue
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # exited while we looked, or not ours to read
            continue
        if marker in args:
            pids.append(int(proc.name))
    return sorted(pids)
