"""planning.marts: Arrow-batch table reading from DuckDB and from Parquet directories, and the planning
steps' inputs built on it — identical to the SQL (`.df()`) they replace, including join edge cases."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.assets.goals import goal_inputs
from orchestration.assets.planning import SEGMENT_COLUMNS, design_inputs
from orchestration.resources import MARTS_PARQUET_ENV, Warehouse
from planning.marts import MartReadError, ParquetTables, index_of, read_columns, read_frame

# The queries the planning steps ran before the Arrow reader: the reference for identical inputs.
OLD_DESIGN_SQL = """
select w.account_id, w.coverage_role, w.workload_hours, a.lat, a.lon,
       v.revenue_t12m, coalesce(s.potential, v.revenue_t12m) as potential
from planning.account_workload w
join marts.dim_accounts a using (account_id)
join marts.fct_account_value v using (account_id)
left join ml.account_scores s using (account_id)
order by w.account_id"""
OLD_GOALS_SQL = """
select t.account_id, t.territory_id, v.revenue_t12m,
       coalesce(s.expected_revenue_next_4q, v.revenue_t12m) as expected_revenue_next_4q,
       coalesce(s.potential, v.revenue_t12m) as potential
from planning.territory_assignment t
join marts.fct_account_value v using (account_id)
left join ml.account_scores s using (account_id)
order by t.account_id"""
N = 1_000  # accounts; several batches at the small batch sizes below
# the fixtures' accounts, numbered i, stored out of key order
IDS_SQL = f"""create table ids as select 'A' || lpad(cast(i as varchar), 6, '0') as account_id, i
              from range({N}) r(i) order by hash(i)"""


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    """A warehouse with the tables the planning steps read, and the awkward rows of real data: an
    account missing from dim_accounts (inner join drops it), accounts without a score row or with a
    null potential (fall back to revenue), DECIMAL revenue, a null overlay, rows out of key order."""
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema planning; create schema marts; create schema ml")
        con.execute(IDS_SQL)
        con.execute("""
            create table planning.account_workload as
            select account_id, ['field_ae', 'inside_sales', 'key_account'][1 + i % 3] as coverage_role,
                   10 + (i * 7919 % 997) / 7.0 as workload_hours from ids""")
        con.execute("""
            create table marts.dim_accounts as
            select account_id, 40 + (i % 100) / 9.0 as lat, -3 + (i % 37) / 11.0 as lon
            from ids where i % 97 <> 5""")
        con.execute("""
            create table marts.fct_account_value as
            select account_id, cast((i * 104729 % 100003) / 3.0 as decimal(18, 2)) as revenue_t12m,
                   date '2026-10-01' as as_of_date from ids""")
        con.execute("""
            create table ml.account_scores as
            select account_id, case when i % 13 = 0 then null else i * 1.25 end as potential,
                   i * 0.5 as expected_revenue_next_4q from ids where i % 11 <> 3""")
        con.execute("""
            create table ml.account_segments as
            select account_id, ['small', 'mid', 'large'][1 + i % 3] as size_bucket,
                   'field_ae' as coverage_role,
                   case when i % 5 = 0 then null else 'solutions' end as specialist_overlay from ids""")
        con.execute("""
            create table marts.fct_quarterly_revenue as
            select account_id, date '2023-10-01' + to_months(3 * q) as quarter_start,
                   case when (i + q) % 23 = 0 then null else (i * q % 1009) * 1.5 end as revenue
            from ids, range(12) r(q)""")
        con.execute("""
            create table planning.territory_assignment as
            select account_id, 'T' || (i % 17) as territory_id from ids where i % 19 <> 2""")
    return Warehouse(database=str(path))


def _old(warehouse: Warehouse, sql: str) -> pd.DataFrame:
    return warehouse.query_df(sql)


def _same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Same rows, order, columns and values; string columns may be object or str dtype."""
    assert list(new.columns) == list(old.columns) and len(new) == len(old)
    for col in old.columns:
        if old[col].dtype.kind == "f":
            assert new[col].dtype == "float64", col
            np.testing.assert_array_equal(new[col].to_numpy(), old[col].to_numpy(), err_msg=col)
        else:
            assert new[col].astype(object).tolist() == old[col].astype(object).tolist(), col


def _export_marts(warehouse: Warehouse, root) -> None:
    """The marts as Spark leaves them: `<root>/marts.db/<table>/` of several part files, a _SUCCESS."""
    with warehouse.connection() as con:
        for table in ("dim_accounts", "fct_account_value", "fct_quarterly_revenue"):
            folder = root / "marts.db" / table
            folder.mkdir(parents=True)
            for part in range(3):
                con.execute(
                    f"copy (select * from marts.{table} where hash(account_id) % 3 = {part}) "
                    f"to '{folder}/part-{part:05d}.parquet' (format parquet)"
                )
            (folder / "_SUCCESS").write_text("")


def test_design_inputs_equal_the_old_sql(warehouse):
    new, old = design_inputs(warehouse), _old(warehouse, OLD_DESIGN_SQL)
    assert len(old) == N - len(range(5, N, 97))  # the accounts missing from dim_accounts are dropped
    _same(new, old)
    assert new["potential"].isna().sum() == 0


def test_goal_inputs_equal_the_old_sql(warehouse):
    _same(goal_inputs(warehouse), _old(warehouse, OLD_GOALS_SQL))


def test_segments_read_in_batches_equal_df(warehouse):
    old = _old(warehouse, f"select {', '.join(SEGMENT_COLUMNS)} from ml.account_segments")
    with warehouse.readers() as (local, _):
        _same(read_frame(local, "ml.account_segments", SEGMENT_COLUMNS, rows_per_batch=64), old)


def test_marts_from_parquet_give_the_same_inputs(warehouse, tmp_path, monkeypatch):
    _export_marts(warehouse, tmp_path / "spark-warehouse")
    monkeypatch.setenv(MARTS_PARQUET_ENV, str(tmp_path / "spark-warehouse"))
    with warehouse.readers() as (_, marts):
        assert isinstance(marts, ParquetTables)
    _same(design_inputs(warehouse), _old(warehouse, OLD_DESIGN_SQL))
    _same(goal_inputs(warehouse), _old(warehouse, OLD_GOALS_SQL))


@pytest.mark.parametrize("backend", ["duckdb", "parquet"])
def test_reader_streams_bounded_batches_of_only_the_asked_columns(warehouse, tmp_path, backend):
    _export_marts(warehouse, tmp_path)
    with warehouse.readers() as (local, _):
        reader = local if backend == "duckdb" else ParquetTables(tmp_path)
        batches = list(reader.batches("marts.fct_account_value", ["revenue_t12m", "account_id"], 100))
        cols = read_columns(reader, "marts.fct_account_value", ["revenue_t12m"], rows_per_batch=100)
    assert sum(b.num_rows for b in batches) == N and len(batches) >= N // 100
    assert max(b.num_rows for b in batches) <= 100
    assert all(b.schema.names == ["revenue_t12m", "account_id"] for b in batches)
    assert cols["revenue_t12m"].dtype == "float64"  # DECIMAL arrives as float64, as `.df()` gives it


def test_missing_table_column_and_duplicate_keys_are_named(warehouse, tmp_path):
    _export_marts(warehouse, tmp_path)
    with (
        warehouse.readers() as (local, _),
        pytest.raises(MartReadError, match=r"no column\(s\) \['altitude'\]"),
    ):
        read_columns(local, "marts.dim_accounts", ["account_id", "altitude"])
    with pytest.raises(MartReadError, match=r"marts.dim_accounts .*no column\(s\) \['altitude'\]"):
        read_columns(ParquetTables(tmp_path), "marts.dim_accounts", ["altitude"])
    with warehouse.readers() as (local, _), pytest.raises(MartReadError, match="fct_nothing does not exist"):
        read_columns(local, "marts.fct_nothing", ["account_id"])
    with pytest.raises(MartReadError, match="marts.fct_nothing: no Parquet table at"):
        read_columns(ParquetTables(tmp_path), "marts.fct_nothing", ["account_id"])
    with pytest.raises(MartReadError, match=r"marts.dim_accounts: key not unique, e.g. \['A1'\]"):
        index_of(
            np.array(["A1"], dtype=object), np.array(["A1", "A2", "A1"], dtype=object), "marts.dim_accounts"
        )


def test_decimals_convert_exactly_as_duckdb_does_with_nulls_and_wide_values(tmp_path):
    w = Warehouse(database=str(tmp_path / "d.duckdb"))
    with w.connection() as con:
        con.execute("create schema marts")
        con.execute("""
            create table marts.amounts as select
              case when i % 7 = 0 then null else cast(i * 1.01 + 0.67 as decimal(18, 2)) end as small,
              cast(i as decimal(38, 4)) * 1e20::decimal(38, 0) + 0.3333 as wide
            from range(5000) r(i)""")
    old = w.query_df("select small, wide from marts.amounts")
    with w.readers() as (local, _):
        new = read_frame(local, "marts.amounts", ["small", "wide"], rows_per_batch=999)
    np.testing.assert_array_equal(new["small"].to_numpy(), old["small"].to_numpy())
    assert new["small"].isna().sum() == len(range(0, 5000, 7))
    np.testing.assert_allclose(new["wide"].to_numpy(), old["wide"].to_numpy(), rtol=1e-15)


@pytest.mark.parametrize("backend", ["duckdb", "parquet"])
def test_quarterly_revenue_and_as_of_read_as_df_gives_them(warehouse, tmp_path, monkeypatch, backend):
    """The goals step's per-account-quarter history: dates as datetime64[us], null revenue as NaN."""
    old = _old(warehouse, "select quarter_start, revenue from marts.fct_quarterly_revenue")
    old_as_of = _old(warehouse, "select max(as_of_date) as d from marts.fct_account_value")["d"].iloc[0]
    if backend == "parquet":
        _export_marts(warehouse, tmp_path)
        monkeypatch.setenv(MARTS_PARQUET_ENV, str(tmp_path))
    with warehouse.readers() as (_, marts):
        new = read_frame(marts, "marts.fct_quarterly_revenue", ["quarter_start", "revenue"], 5000)
        as_of = read_columns(marts, "marts.fct_account_value", ["as_of_date"])["as_of_date"].max()
    if backend == "parquet":  # Parquet parts hold the rows in another order: compare as sets
        new, old = (f.sort_values(["quarter_start", "revenue"], ignore_index=True) for f in (new, old))
    assert new["quarter_start"].dtype == old["quarter_start"].dtype == "datetime64[us]"
    pd.testing.assert_frame_equal(new, old)
    assert len(new) == 12 * N and new["revenue"].isna().sum() > 0
    assert pd.Timestamp(as_of) == old_as_of


# The segments step's query before the Arrow reader: the reference its inputs must equal.
OLD_SEGMENT_SQL = """
with open_stages as (
    select account_id,
           max(case stage when 'prospecting' then 1 when 'qualification' then 2
                          when 'proposal' then 3 when 'negotiation' then 4 end) as stage_rank
    from staging.stg_crm__opportunities
    where not is_closed
    group by account_id
)
select a.account_id, a.status, a.employees, a.open_pipeline_amount,
       v.revenue_t12m, v.size_bucket, b.price_seeking_index, b.recency_days,
       s.expected_revenue_next_4q, s.potential, s.headroom, s.reason_codes,
       case o.stage_rank when 1 then 'prospecting' when 2 then 'qualification'
                         when 3 then 'proposal' when 4 then 'negotiation' end as open_stage
from marts.dim_accounts a
join marts.fct_account_value v using (account_id)
join marts.fct_buying_behaviour b using (account_id)
left join ml.account_scores s using (account_id)
left join open_stages o using (account_id)
order by a.account_id
"""


@pytest.fixture
def segment_warehouse(tmp_path) -> Warehouse:
    """The segments step's tables with the awkward rows of real data: accounts missing from one mart
    (dropped), without a score row or with null scores, null recency and reason codes, opportunities
    that are closed, of an unranked stage, with a null `is_closed`, or of an account no mart knows."""
    path = tmp_path / "s.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema ml; create schema staging")
        con.execute(IDS_SQL)
        con.execute("""
            create table marts.dim_accounts as
            select account_id, ['active', 'prospect', 'churned'][1 + i % 3] as status,
                   cast(5 + i * 37 % 4000 as integer) as employees,
                   cast(i * 13 % 997 * 100 / 3 as decimal(18, 2)) as open_pipeline_amount
            from ids where i % 89 <> 4""")
        con.execute("""
            create table marts.fct_account_value as
            select account_id, cast((i * 104729 % 100003) / 3.0 as decimal(18, 2)) as revenue_t12m,
                   ['>=50K', '<50K', '<5K', 'blank'][1 + i % 4] as size_bucket from ids""")
        con.execute("""
            create table marts.fct_buying_behaviour as
            select account_id, (i % 101) / 100.0 as price_seeking_index,
                   case when i % 7 = 0 then null else i % 400 end as recency_days
            from ids where i % 97 <> 5""")
        con.execute("""
            create table ml.account_scores as
            select account_id, case when i % 13 = 0 then null else i * 1.25 end as expected_revenue_next_4q,
                   i * 2.5 as potential, i * 1.25 as headroom,
                   case when i % 17 = 0 then null else 'reason ' || (i % 5) end as reason_codes
            from ids where i % 11 <> 3""")
        con.execute("""
            create table staging.stg_crm__opportunities as
            select 'O' || o as opportunity_id, account_id, stage,
                   case when o % 53 = 0 then null else stage in ('closed_won', 'closed_lost') end as is_closed
            from (select account_id, i * 7 + k as o,
                         ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed_won',
                          'closed_lost', 'discovery'][1 + (i * 3 + k * 5) % 7] as stage
                  from ids, range(3) r(k) where (i + k) % 4 <> 0)
            union all select 'O-ghost', 'ZZ-not-in-marts', 'proposal', false""")
    return Warehouse(database=str(path))


def _export(warehouse: Warehouse, root, tables: list[str]) -> None:
    """`tables` as Spark writes them: `<root>/<schema>.db/<table>/` of three part files and a _SUCCESS."""
    with warehouse.connection() as con:
        for table in tables:
            schema, name = table.split(".")
            folder = root / f"{schema}.db" / name
            folder.mkdir(parents=True)
            for part in range(3):
                con.execute(
                    f"copy (select * from {table} where hash(account_id) % 3 = {part}) "
                    f"to '{folder}/part-{part:05d}.parquet' (format parquet)"
                )
            (folder / "_SUCCESS").write_text("")


SEGMENT_MARTS = [
    "marts.dim_accounts",
    "marts.fct_account_value",
    "marts.fct_buying_behaviour",
    "staging.stg_crm__opportunities",  # a table on Spark (dbt_project.yml), read from its Parquet
]


@pytest.mark.parametrize("backend", ["duckdb", "parquet"])
def test_segment_inputs_equal_the_old_sql(segment_warehouse, tmp_path, monkeypatch, backend):
    from orchestration.assets.ml import segment_inputs

    old = _old(segment_warehouse, OLD_SEGMENT_SQL)
    if backend == "parquet":
        _export(segment_warehouse, tmp_path / "spark", SEGMENT_MARTS)
        monkeypatch.setenv(MARTS_PARQUET_ENV, str(tmp_path / "spark"))
    monkeypatch.setattr("planning.marts.ROWS_PER_BATCH", 97)
    new = segment_inputs(segment_warehouse)
    pd.testing.assert_frame_equal(new, old)  # same rows, order, dtypes (str, int32, float64) and values
    assert len(old) == N - len(range(4, N, 89)) - len(range(5, N, 97))
    # not vacuous: every join fallback and every open stage is taken
    assert old["expected_revenue_next_4q"].isna().any() and old["reason_codes"].isna().any()
    assert old["potential"].isna().any() and old["recency_days"].isna().any()
    assert set(old["open_stage"].dropna()) == {"prospecting", "qualification", "proposal", "negotiation"}
    assert old["open_stage"].isna().any()


def test_segment_inputs_name_a_missing_parquet_mart(segment_warehouse, tmp_path, monkeypatch):
    from orchestration.assets.ml import segment_inputs

    _export(segment_warehouse, tmp_path, SEGMENT_MARTS[:2])
    monkeypatch.setenv(MARTS_PARQUET_ENV, str(tmp_path))
    with pytest.raises(MartReadError, match="marts.fct_buying_behaviour: no Parquet table at"):
        segment_inputs(segment_warehouse)
