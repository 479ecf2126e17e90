"""The same dbt project builds on PostgreSQL (target `postgres`) and gives the same marts as DuckDB.

The hand-made fixture (make_fixture.py) is landed in schema `raw` of a throwaway PostgreSQL database
and in a DuckDB file; one `dbt build` each (models, data tests, unit tests), then every mart is
compared row for row: same columns, same keys, equal values, floats within 1e-9 relative
(data_quality/parity.py).
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from dbt_build import run_dbt_build
from make_fixture import RAW_DDL, ROWS, write_fixture

from data_quality.parity import TABLE_KEYS, rows_frame, table_differences


def postgres_ddl(ddl: str) -> str:
    return ddl.replace("DOUBLE", "DOUBLE PRECISION")


def load_raw_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.execute(sa.text("create schema raw"))
        for table, ddl in RAW_DDL.items():
            con.execute(sa.text(f"create table raw.{table} ({postgres_ddl(ddl)})"))
            columns = [c.split()[0] for c in " ".join(ddl.split()).split(", ")]
            insert = sa.text(
                f"insert into raw.{table} ({', '.join(columns)}) values ({', '.join(':' + c for c in columns)})"
            )
            con.execute(insert, [dict(zip(columns, row, strict=True)) for row in ROWS[table]])
    engine.dispose()


def pg_env(url: str) -> dict[str, str]:
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    return {
        "DBT_TARGET": "postgres",
        "PGHOST": u.host or "127.0.0.1",
        "PGPORT": str(u.port or 5432),
        "PGUSER": u.username or "",
        "PGPASSWORD": u.password or "",
        "PGDATABASE": u.database or "",
    }


def read_postgres(url: str, sql: str) -> tuple[list[str], list[tuple]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as con:
        result = con.execute(sa.text(sql))
        names, data = list(result.keys()), [tuple(r) for r in result.fetchall()]
    engine.dispose()
    return names, data


def test_postgres_marts_equal_duckdb_marts(pg_database, tmp_path):
    warehouse = write_fixture(tmp_path / "warehouse.duckdb")
    run_dbt_build(warehouse, tmp_path / "duckdb")
    load_raw_postgres(pg_database)
    run_dbt_build(warehouse, tmp_path / "postgres", env=pg_env(pg_database))

    with duckdb.connect(str(warehouse)) as con:
        marts = sorted(
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        )
        assert {"dim_accounts", "dim_reps", "fct_account_value", "fct_buying_behaviour"} <= set(marts)
        for mart in marts:
            cursor = con.execute(f"select * from marts.{mart}")
            duck = rows_frame([d[0] for d in cursor.description], cursor.fetchall())
            postgres = rows_frame(*read_postgres(pg_database, f"select * from marts.{mart}"))
            assert len(duck) > 0, f"{mart}: empty in the DuckDB build, the comparison would say nothing"
            differences = table_differences(
                mart, duck, postgres, TABLE_KEYS[mart], atol=1e-12, sides=("duckdb", "postgres")
            )
            assert not differences, "\n".join(differences)
    # The comparison is not vacuous: the fixture's known A1 value is in both.
    _, a1 = read_postgres(
        pg_database,
        "select revenue_t12m, as_of_date from marts.fct_account_value where account_id = 'A0000001'",
    )
    assert a1[0][0] == pytest.approx(50_000) and a1[0][1] == date(2025, 1, 1)
