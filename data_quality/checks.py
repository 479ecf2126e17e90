"""The one factory that turns an expectation suite into a Dagster asset check on the warehouse.

The check runs the suite in the warehouse (data_quality.runner: violations found in DuckDB SQL, judged by
great-expectations on small frames) and reports each failed expectation in the UI: where, which column,
how many rows fail, the failing values and a sample of failing rows.
"""

from collections.abc import Callable

import dagster as dg
import duckdb

from data_quality.runner import SuiteResult, run_suite
from data_quality.suites import Suite

SuiteBuilder = Callable[[object, duckdb.DuckDBPyConnection], Suite]  # (PlanConfig, connection) -> Suite


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def failures_markdown(result: SuiteResult) -> str:
    """One row per failed expectation, with the failing values, for the check's metadata."""
    lines = [
        "| expectation | table / frame | column | failing rows | failing values | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in result.failures:
        count = "?" if f.unexpected_count is None else f"{f.unexpected_count:,}"
        values = ", ".join(f.examples) or "—"
        lines.append(
            "| "
            + " | ".join(_cell(v) for v in (f.expectation, f.where, f.column or "—", count, values, f.why))
            + " |"
        )
    return "\n".join(lines)


def result_metadata(result: SuiteResult) -> dict[str, dg.MetadataValue]:
    """What the UI shows for one suite run: counts, the failures table and sample failing rows (JSON)."""
    meta: dict[str, dg.MetadataValue] = {
        "expectations": dg.MetadataValue.int(result.evaluated),
        "failed_expectations": dg.MetadataValue.int(result.failed),
        "rows_checked": dg.MetadataValue.json(result.rows_checked),
        "failures": dg.MetadataValue.md(failures_markdown(result) if result.failures else "none"),
    }
    if result.failures:
        meta["failing_rows"] = dg.MetadataValue.int(sum(f.unexpected_count or 0 for f in result.failures))
        meta["failing_samples"] = dg.MetadataValue.json(
            [
                {
                    "expectation": f.expectation,
                    "where": f.where,
                    "column": f.column,
                    "failing_rows": f.unexpected_count,
                    "values": f.examples,
                    "rows": f.rows,
                }
                for f in result.failures
            ]
        )
    return meta


def suite_check(
    name: str,
    asset: str | dg.AssetKey,
    build: SuiteBuilder,
    blocking: bool = True,
    description: str = "",
    on_pass: Callable[[object, duckdb.DuckDBPyConnection], None] | None = None,
) -> dg.AssetChecksDefinition:
    """An asset check that builds its suite from the plan config and the warehouse, then runs it.

    Blocking checks stop the run when they fail, so nothing downstream (model, publish) is built on bad
    input or a broken plan. `on_pass(cfg, con)` runs after a passing suite (e.g. to accept a load).
    """

    @dg.asset_check(
        asset=asset,
        name=name,
        blocking=blocking,
        description=description or f"great-expectations suite `{name}`",
        required_resource_keys={"warehouse", "plan_config"},
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        cfg = context.resources.plan_config.load()
        with context.resources.warehouse.connection() as con:
            suite = build(cfg, con)
            result = run_suite(con, suite, cfg.quality.sample_rows)
            if result.success and on_pass:
                on_pass(cfg, con)
        if not result.success:
            context.log.error(
                f"{name}: {result.failed} of {result.evaluated} expectations failed: "
                + "; ".join(
                    f"{f.where}.{f.column} {f.expectation} ({f.unexpected_count})" for f in result.failures
                )
            )
        return dg.AssetCheckResult(
            passed=result.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=result_metadata(result),
        )

    return _check
