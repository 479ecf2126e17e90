"""Level 3: the ingest asset and its blocking quality check, materialized in-process on a temp warehouse."""

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from data_quality.checks import suite_check
from data_quality.suites import transactions_suite
from orchestration.assets import ingest
from orchestration.resources import PlanConfigResource, Warehouse
from planning.config import DEFAULT_CONFIG_PATH
from sources.demo import DemoCompany

CHECK = suite_check(transactions_suite(), asset="raw_transactions", table="raw.transactions")


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
        [ingest.ingest_source, downstream_of_raw, CHECK],
        resources=resources,
        run_config={"ops": {"ingest_source": {"config": {"size": "300"}}}},
        raise_on_error=False,
        **kwargs,
    )


def test_demo_lands_raw_tables_with_contract_types_and_passes_the_suite(tmp_path):
    result = _materialize(tmp_path)
    assert result.success
    evals = result.get_asset_check_evaluations()
    assert [e.passed for e in evals] == [True]
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        n_accounts = con.execute("select count(*) from raw.accounts").fetchall()[0][0]
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = 'transactions'"
            ).fetchall()
        )
    assert n_accounts == 300
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
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["failed_expectations"].value == 2
    failures = evaluation.metadata["failures"].value
    assert "transaction_id" in failures and "discount" in failures and "1.5" in failures
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
