"""Which date the freshness expectation compares the latest order with."""

from datetime import date, datetime

import duckdb
import pytest

from orchestration.assets.quality import freshness_as_of
from planning.config import load_config


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("create schema raw")
    c.execute("create table raw.transactions (_source varchar, _loaded_at timestamp)")
    yield c
    c.close()


def test_a_file_load_is_compared_with_its_load_day(con):
    con.execute("insert into raw.transactions values ('/in/transactions.csv', timestamp '2026-03-04 10:00')")
    assert freshness_as_of(load_config(), con) == date(2026, 3, 4)


def test_the_demo_is_compared_with_the_end_of_its_history(con):
    con.execute("insert into raw.transactions values ('demo(seed=42, size=300)', ?)", [datetime(2030, 1, 1)])
    assert freshness_as_of(load_config(), con) == load_config().demo.end_date


def test_configured_dates_win_in_order(con):
    con.execute("insert into raw.transactions values ('/in/t.csv', timestamp '2026-03-04 10:00')")
    sources = load_config(overrides={"sources.as_of_date": "2025-06-30"})
    assert freshness_as_of(sources, con) == date(2025, 6, 30)
    both = load_config(
        overrides={"sources.as_of_date": "2025-06-30", "quality.freshness.as_of_date": "2025-01-31"}
    )
    assert freshness_as_of(both, con) == date(2025, 1, 31)
