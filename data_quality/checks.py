"""The one factory that turns an expectation suite into a Dagster asset check on a warehouse table."""

import dagster as dg

from data_quality.runner import run_suite
from data_quality.sql_runner import run_suite_sql, supports_sql
from data_quality.suites import Suite

# above this many rows a suite runs as SQL in DuckDB: great-expectations' pandas engine needs the whole
# table in memory and takes about a minute per 2M rows on a busy 2-core machine
PANDAS_MAX_ROWS = 5_000_000


def suite_columns(suite: Suite) -> list[str]:
    """The columns a suite's expectations name, in first-use order."""
    return list(dict.fromkeys(kw["column"] for _, kw in suite.expectations if "column" in kw))


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
        warehouse = context.resources.warehouse
        with warehouse.connection() as con:
            rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
            use_sql = rows > PANDAS_MAX_ROWS and supports_sql(suite)
            if use_sql:
                res = run_suite_sql(con, table, suite)  # the same expectations, evaluated in DuckDB
        if not use_sql:
            # only the columns the suite checks (a column the table lacks is reported by run_suite)
            present = set(warehouse.query_df(f"select * from {table} limit 0").columns)
            columns = ", ".join(f'"{c}"' for c in suite_columns(suite) if c in present) or "*"
            res = run_suite(warehouse.query_df(f"select {columns} from {table}"), suite)
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
                "rows": dg.MetadataValue.int(rows),
                "engine": "DuckDB SQL" if use_sql else "great-expectations (pandas)",
                "expectations": dg.MetadataValue.int(res.evaluated),
                "failed_expectations": dg.MetadataValue.int(res.failed),
                "failures": dg.MetadataValue.md(table_md if res.failures else "none"),
            },
        )

    return _check
