"""The project-side end of bi/superset/api_driver.py: a Superset REST API in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "bi" / "superset" / "api_driver.py"
CONFIG = ROOT / "bi" / "superset" / "superset_config.py"


class SupersetError(AssertionError):
    """An API call answered with an unexpected status."""


class Superset:
    """One Superset app (its own SQLite metadata copied from the venv's template) behind a pipe."""

    def __init__(self, venv: Path, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(venv / "metadata-template" / "superset.db", home / "superset.db")
        env = {
            **os.environ,
            "COVPLAN_SUPERSET_HOME": str(home),
            "SUPERSET_CONFIG_PATH": str(CONFIG),
            "PYTHONPATH": "",
        }
        self.log = open(home / "superset.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "python"), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        first = self.proc.stdout.readline()
        if not first or not json.loads(first).get("ready"):
            self.close()
            raise SupersetError(f"Superset did not start: see {home / 'superset.log'}")
        self.home = home

    def call(self, method: str, path: str, expect: int | tuple = (200, 201), **req) -> dict:
        self.proc.stdin.write(json.dumps({"method": method, "path": path, **req}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SupersetError(f"Superset exited: see {self.home / 'superset.log'}")
        answer = json.loads(line)
        ok = (expect,) if isinstance(expect, int) else expect
        if answer["status"] not in ok:
            raise SupersetError(f"{method} {path}: {answer['status']} {json.dumps(answer)[:1500]}")
        return answer["json"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
