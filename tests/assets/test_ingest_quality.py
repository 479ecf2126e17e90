"""Level 3: the ingest asset and its blocking quality check, materialized in-process on a temp warehouse."""

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from orchestration.assets import ingest
from orchestration.assets.quality import RAW_CHECKS
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import DEFAULT_CONFIG_PATH
from sources.demo import DemoCompany


@dg.asset(deps=["raw_transactions"])
def downstream_of_raw():
    """Stands in for the dbt build: must not run when the blocking check fails."""
    return 1


def _materialize(tmp_path, **kwargs):
    resources = {
        "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
        "plan_config": PlanConfigResource(path=str(DEFAULT_CONFIG_PATH)),
    }
    return dg.materialize(
        [ingest.ingest_source, downstream_of_raw, *RAW_CHECKS],
        resources=resources,
        run_config={"ops": {"ingest_source": {"config": {"size": "300"}}}},
        raise_on_error=False,
        **kwargs,
    )


def test_demo_lands_raw_tables_with_contract_types_and_passes_the_suite(tmp_path):
    result = _materialize(tmp_path)
    assert result.success
    evals = result.get_asset_check_evaluations()
    assert len(evals) == 5 and all(e.passed for e in evals)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        n_accounts = con.execute("select count(*) from raw.accounts").fetchall()[0][0]
        history = con.execute(
            "select entity, rows, accepted from raw._load_history order by entity"
        ).fetchall()
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = 'transactions'"
            ).fetchall()
        )
    assert n_accounts == 300
    # every load is logged and, its suite passed, accepted as the baseline of the next load
    assert [(e, a) for e, _, a in history] == [
        ("accounts", True),
        ("contacts", True),
        ("opportunities", True),
        ("reps", True),
        ("transactions", True),
    ]
    assert dict((e, n) for e, n, _ in history)["accounts"] == 300
    assert types["order_date"] == "DATE" and types["quantity"] == "DOUBLE"
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert mats["raw_transactions"].materialization.metadata["rows"].value > 10_000


def test_bad_transactions_fail_the_check_and_block_downstream(tmp_path, monkeypatch):
    class Corrupted(DemoCompany):
        def transaction_tables(self):
            for i, table in enumerate(super().transaction_tables()):
                if i == 0:
                    tx = table.to_pandas()
                    tx.loc[1, "transaction_id"] = tx.loc[0, "transaction_id"]  # duplicate key
                    tx.loc[2, "discount"] = 1.5  # impossible discount
                    table = pa.Table.from_pandas(tx, schema=table.schema, preserve_index=False)
                yield table

    monkeypatch.setattr(ingest, "DemoCompany", Corrupted)
    result = _materialize(tmp_path)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    (evaluation,) = failed
    assert evaluation.check_name == "raw_transactions_suite"
    assert evaluation.metadata["failed_expectations"].value == 2
    assert evaluation.metadata["failing_rows"].value == 3  # two rows share the key, one discount
    failures = evaluation.metadata["failures"].value
    assert "transaction_id" in failures and "discount" in failures and "1.5" in failures
    samples = {s["column"]: s for s in evaluation.metadata["failing_samples"].value}
    assert samples["discount"]["values"] == ["1.5"]
    built = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "raw_transactions" in built and "downstream_of_raw" not in built


@pytest.mark.parametrize("size", ["tiny", "-5"])
def test_bad_demo_size_is_a_config_error(tmp_path, size):
    resources = {
        "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
        "plan_config": PlanConfigResource(path=str(DEFAULT_CONFIG_PATH)),
    }
    result = dg.materialize(
        [ingest.ingest_source],
        resources=resources,
        raise_on_error=False,
        run_config={"ops": {"ingest_source": {"config": {"size": size}}}},
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    while failure.cause:
        failure = failure.cause
    assert "demo size" in failure.message


def test_a_run_without_an_explicit_source_ingests_the_configured_default(tmp_path, monkeypatch):
    """Schedules and backfills pass no source: they must ingest `sources.default`, not the demo."""
    import yaml

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["sources"]["default"] = "sql"
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("COVPLAN_SOURCE_URL", raising=False)
    resources = {
        "warehouse": Warehouse(database=str(tmp_path / "wh.duckdb")),
        "plan_config": PlanConfigResource(path=str(config)),
    }
    result = dg.materialize([ingest.ingest_source], resources=resources, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    while failure.cause:
        failure = failure.cause
    assert "COVPLAN_SOURCE_URL" in failure.message  # it went to the SQL source, not the demo


def test_a_partitioned_run_too_early_for_the_demo_history_stops_before_generating(tmp_path, monkeypatch):
    """A backfill of a quarter the demo history cannot plan fails in ingest, before any data is made."""

    def never(*args, **kwargs):
        raise AssertionError("the demo must not be generated for an as-of date it cannot support")

    monkeypatch.setattr(ingest, "DemoCompany", never)
    result = _materialize(tmp_path, tags={"dagster/partition": "2025-04-01"})
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    while failure.cause:
        failure = failure.cause
    assert failure.cls_name == "AsOfHistoryError"
    assert "earliest as-of date it supports is" in failure.message and "demo.years" in failure.message
    if (tmp_path / "wh.duckdb").exists():  # the resource may open the file; nothing may land in it
        with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
            raw = con.execute("select count(*) from information_schema.tables where table_schema = 'raw'")
            assert raw.fetchall()[0][0] == 0


def test_a_failing_raw_check_stops_the_plan_job_before_anything_is_published(tmp_path, monkeypatch):
    """The real yearly job: a blocking raw suite fails, so neither dbt nor published_plan runs."""
    from orchestration.definitions import defs
    from orchestration.jobs import kind_config
    from orchestration.partitions import quarterly_partitions

    class Orphaned(DemoCompany):
        def transaction_tables(self):
            for i, table in enumerate(super().transaction_tables()):
                if i == 0:
                    tx = table.to_pandas()
                    tx.loc[:9, "account_id"] = "A9999999"  # ten order lines of an account that is not loaded
                    table = pa.Table.from_pandas(tx, schema=table.schema, preserve_index=False)
                yield table

    monkeypatch.setattr(ingest, "DemoCompany", Orphaned)
    monkeypatch.setenv("COVPLAN_PUBLISHED_DIR", str(tmp_path / "published"))
    run_config = kind_config("yearly")
    run_config["ops"]["ingest_source"] = {"config": {"size": "300"}}
    run_config["resources"] = {
        "warehouse": {"config": {"database": str(tmp_path / "wh.duckdb")}},
        "plan_config": {"config": {"path": str(DEFAULT_CONFIG_PATH)}},
    }
    result = defs.resolve_job_def("yearly_plan").execute_in_process(
        run_config=run_config,
        raise_on_error=False,
        partition_key=quarterly_partitions.get_partition_keys()[-1],
    )
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [(e.asset_key.to_user_string(), e.check_name) for e in failed] == [
        ("raw_transactions", "raw_transactions_suite")
    ]
    assert "A9999999" in failed[0].metadata["failures"].value
    assert failed[0].metadata["failing_rows"].value == 10
    built = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "raw_transactions" in built
    assert not any(k.startswith(("staging/", "marts/")) for k in built)
    assert "published_plan" not in built and not (tmp_path / "published").exists()
