"""ml.stage.release_buffers: DuckDB hands back its cached buffers between the growth stage's steps."""

from __future__ import annotations

import duckdb
import pytest

from ml.stage import release_buffers


def _buffered_bytes(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("select sum(memory_usage_bytes) from duckdb_memory()").fetchone()[0])


def _limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_setting('memory_limit')").fetchone()[0]


def test_release_evicts_buffers_keeps_the_data_and_restores_the_limit(tmp_path) -> None:
    con = duckdb.connect(
        str(tmp_path / "w.duckdb"), config={"memory_limit": "1GB", "temp_directory": str(tmp_path / "spill")}
    )
    con.execute("create temp table t as select range as i, range * 0.5 as x from range(5000000)")
    before = _buffered_bytes(con)
    assert before > 100 * 2**20  # the temp table sits in memory
    configured = _limit(con)
    assert release_buffers(con, "1 GB") is True
    assert _buffered_bytes(con) <= 64 * 2**20 < before
    assert _limit(con) == configured  # "1 GB" is restored as DuckDB shows 1GB
    assert con.execute("select count(*), sum(x) from t").fetchone() == (5_000_000, 6_249_998_750_000)


def test_release_that_cannot_evict_says_so_and_restores_the_limit() -> None:
    con = duckdb.connect(config={"memory_limit": "1GB", "temp_directory": ""})  # nowhere to spill
    con.execute("create temp table t as select range as i, range * 0.5 as x from range(5000000)")
    assert release_buffers(con, "1GB") is False
    assert _limit(con) == "953.6 MiB"
    assert con.execute("select count(*) from t").fetchone()[0] == 5_000_000


@pytest.mark.parametrize("limit", ["2GB", "512 MB"])
def test_release_restores_the_configured_limit(limit: str) -> None:
    con = duckdb.connect(config={"memory_limit": limit.replace(" ", "")})
    shown = _limit(con)
    release_buffers(con, limit)
    assert _limit(con) == shown
