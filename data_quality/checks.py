"""The one factory that turns an expectation suite into a Dagster asset check on a warehouse table."""

import dagster as dg

from data_quality.runner import run_suite
from data_quality.suites import Suite


def suite_check(suite: Suite, asset: str, table: str, blocking: bool = True) -> dg.AssetChecksDefinition:
    """An asset check that loads `table` from the `warehouse` resource and validates it with `suite`.

    Blocking checks stop the run when they fail, so nothing downstream (model, publish) is built on bad
    input. The UI shows each failed expectation with its column, count and example values.
    """

    @dg.asset_check(
        asset=asset,
        name=f"{suite.name}_suite",
        blocking=blocking,
        description=f"great-expectations suite `{suite.name}` ({len(suite.expectations)} expectations)",
        required_resource_keys={"warehouse"},
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        df = context.resources.warehouse.query_df(f"select * from {table}")
        res = run_suite(df, suite)
        table_md = "\n".join(
            ["| expectation | column | unexpected | examples |", "|---|---|---|---|"]
            + [
                f"| {f['expectation']} | {f['column']} | {f['unexpected_count']} | {', '.join(f['examples'])} |"
                for f in res.failures
            ]
        )
        return dg.AssetCheckResult(
            passed=res.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows": dg.MetadataValue.int(len(df)),
                "expectations": dg.MetadataValue.int(res.evaluated),
                "failed_expectations": dg.MetadataValue.int(res.failed),
                "failures": dg.MetadataValue.md(table_md if res.failures else "none"),
            },
        )

    return _check
