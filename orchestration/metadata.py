"""Small helpers that turn frames and dicts into metadata a person reads in the Dagster UI."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def preview(df: pd.DataFrame, rows: int = 5) -> str:
    """The first rows as a markdown table."""
    return df.head(rows).to_markdown(index=False) if len(df) else "_empty_"


def figures(values: dict) -> dict[str, dg.MetadataValue]:
    """Numbers as typed metadata (floats rounded for reading), other values as text."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(round(value, 6))
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out
