"""Ingest group: land the source entities as raw tables (schema `raw`) in the warehouse."""

import time

import dagster as dg
import pandas as pd

from orchestration.metadata import preview
from orchestration.resources import PlanConfigResource, Warehouse
from sources.demo import generate_demo, resolve_size

RAW_ENTITIES = ["accounts", "contacts", "reps", "opportunities", "transactions"]


class DemoSourceConfig(dg.Config):
    """Which demo company to generate; an empty size takes `demo.size` from config/plan.yaml."""

    size: str = ""


@dg.multi_asset(
    specs=[
        *[
            dg.AssetSpec(
                f"raw_{e}",
                group_name="ingest",
                description=f"Raw {e} as delivered by the source (schema raw).",
                kinds={"duckdb"},
                metadata={"table": f"raw.{e}"},
            )
            for e in RAW_ENTITIES
        ],
        dg.AssetSpec(
            "demo_account_truth",
            group_name="ingest",
            kinds={"duckdb"},
            description="Latent growth drivers of the demo company; read only by tests and benchmarks.",
            metadata={"table": "demo_truth.account_truth"},
        ),
    ],
    can_subset=False,
)
def demo_source(
    context: dg.AssetExecutionContext,
    config: DemoSourceConfig,
    warehouse: Warehouse,
    plan_config: PlanConfigResource,
):
    """Generate the deterministic demo company (seed and size from config) and load it as raw tables."""
    cfg = plan_config.load()
    n_accounts = resolve_size(config.size or cfg.demo.size)
    started = time.perf_counter()
    demo = generate_demo(n_accounts, seed=cfg.seed, end_date=cfg.demo.end_date, years=cfg.demo.years)
    context.log.info(f"generated {n_accounts:,} accounts in {time.perf_counter() - started:.1f} s")
    for entity, df in demo.tables().items():
        dates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
        rows = warehouse.write_table("raw", entity, df, date_columns=dates)
        yield dg.MaterializeResult(
            asset_key=f"raw_{entity}",
            metadata={
                "rows": dg.MetadataValue.int(rows),
                "source": f"demo (seed {cfg.seed}, {n_accounts:,} accounts)",
                "preview": dg.MetadataValue.md(preview(df)),
            },
        )
    rows = warehouse.write_table("demo_truth", "account_truth", demo.account_truth)
    yield dg.MaterializeResult(asset_key="demo_account_truth", metadata={"rows": dg.MetadataValue.int(rows)})
