"""Superset REST API calls the BI tests share: databases, datasets and chart-data queries."""

from __future__ import annotations

import json

import sqlalchemy as sa
from superset_client import Superset


def duckdb_uri(path) -> str:
    return f"duckdb:///{path}"


def postgres_uri(url: str) -> str:
    """The test's SQLAlchemy URL with Superset's driver (psycopg2 is in Superset's venv)."""
    return sa.engine.make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def add_database(app: Superset, name: str, uri: str) -> int:
    """A Superset database; DuckDB files are opened read-only (else duckdb-engine opens them read-write
    and would block the next publish)."""
    extra = {"engine_params": {"connect_args": {"read_only": True}}} if uri.startswith("duckdb") else {}
    body = {
        "database_name": name,
        "sqlalchemy_uri": uri,
        "expose_in_sqllab": True,
        "extra": json.dumps(extra),
    }
    return app.call("POST", "/api/v1/database/", json=body)["id"]


def add_dataset(app: Superset, database_id: int, schema: str, table: str) -> int:
    body = {"database": database_id, "schema": schema, "table_name": table}
    return app.call("POST", "/api/v1/dataset/", json=body)["id"]


def aggregate(app: Superset, dataset_id: int, by: str, metric_sql: str) -> dict:
    """`by` → value of `metric_sql`, as a chart's query through /api/v1/chart/data computes it."""
    query = {
        "datasource": {"id": dataset_id, "type": "table"},
        "queries": [
            {
                "columns": [by],
                "metrics": [{"expressionType": "SQL", "sqlExpression": metric_sql, "label": "value"}],
                "orderby": [],
                "row_limit": 10000,
            }
        ],
        "result_format": "json",
        "result_type": "full",
    }
    result = app.call("POST", "/api/v1/chart/data", json=query)["result"][0]
    assert not result.get("error"), result.get("error")
    return {row[by]: row["value"] for row in result["data"]}
