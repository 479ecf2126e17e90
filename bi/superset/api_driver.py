"""Drive Superset's REST API in-process, one JSON request per stdin line, for tests/bi.

Runs under the Superset venv's python (bi/superset/setup.sh), never the project's: Superset and the
project pin different Flask/pandas/SQLAlchemy. The test client of `create_app()` answers the API with
no web server (STACK.md §11); the process lives for the whole test session, so a plan published
between two requests shows whether Superset picks up the new file without a restart.

Request (one line of JSON): {"method": "GET|POST|PUT|DELETE", "path": "/api/v1/...",
"json": {...}?, "form": {...}?, "files": {"field": "/path/to/file"}?}
Answer (one line of JSON): {"status": int, "json": {...} | null, "text": "..." (when not JSON)}
The first answer, before any request, is {"ready": true} once logged in as admin/admin.
"""

from __future__ import annotations

import io
import json
import sys


def _login(client) -> dict[str, str]:
    resp = client.post(
        "/api/v1/security/login",
        json={"username": "admin", "password": "admin", "provider": "db", "refresh": False},
    )
    if resp.status_code != 200:
        raise SystemExit(f"superset login failed: {resp.status_code} {resp.get_data(as_text=True)[:500]}")
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def _answer(client, headers: dict[str, str], req: dict) -> dict:
    kwargs: dict = {"headers": headers}
    if "json" in req:
        kwargs["json"] = req["json"]
    if "files" in req or "form" in req:
        data = dict(req.get("form", {}))
        for field, path in req.get("files", {}).items():
            with open(path, "rb") as fh:
                data[field] = (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1])
        kwargs["data"] = data
        kwargs["content_type"] = "multipart/form-data"
    resp = client.open(req["path"], method=req["method"], **kwargs)
    body = resp.get_data(as_text=True)
    try:
        return {"status": resp.status_code, "json": json.loads(body)}
    except ValueError:
        return {"status": resp.status_code, "json": None, "text": body[:2000]}


def main() -> None:
    # Superset logs to stdout/stderr while creating the app; keep stdout for the protocol only.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    from superset.app import create_app

    app = create_app()
    client = app.test_client()
    with app.app_context():
        headers = _login(client)
    real_stdout.write(json.dumps({"ready": True}) + "\n")
    real_stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        with app.app_context():
            answer = _answer(client, headers, json.loads(line))
        real_stdout.write(json.dumps(answer, default=str) + "\n")
        real_stdout.flush()


if __name__ == "__main__":
    main()
