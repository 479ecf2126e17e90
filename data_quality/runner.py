"""Run an expectation suite over a DataFrame with great-expectations 1.x and summarise the result.

great_expectations takes 5–10 s to import, so it is imported here, inside the call, never at module
load; its analytics and progress bars are switched off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from data_quality.suites import Suite


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    evaluated: int
    failed: int
    failures: list[dict]  # one per failed expectation: expectation, column, unexpected_count, examples


def run_suite(df: pd.DataFrame, suite: Suite) -> SuiteResult:
    """Validate `df` against `suite`; every expectation runs, failures carry the offending values."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    missing = sorted({kw["column"] for _, kw in suite.expectations if "column" in kw} - set(df.columns))
    if missing:
        return SuiteResult(
            suite.name,
            False,
            len(suite.expectations),
            len(missing),
            [
                {"expectation": "column exists", "column": c, "unexpected_count": None, "examples": []}
                for c in missing
            ],
        )

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        ctx.data_sources.add_pandas(f"{suite.name}_source")
        .add_dataframe_asset(suite.entity)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    gx_suite = ctx.suites.add(
        gx.ExpectationSuite(
            name=suite.name,
            expectations=[getattr(gx.expectations, cls)(**kw) for cls, kw in suite.expectations],
        )
    )
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(gx_suite)
    failures = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        res = r.result or {}
        failures.append(
            {
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column"),
                "unexpected_count": res.get("unexpected_count"),
                "examples": [str(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
            }
        )
    return SuiteResult(suite.name, bool(result.success), len(result.results), len(failures), failures)
