"""The Superset bundle's datasets list every published column with the published description, so a
column added to the contract is added to the dashboard's datasets too (found missing twice by hand)."""

from pathlib import Path

import pytest
import yaml

from planning import published_schema

DATASETS = Path(__file__).parents[2] / "bi" / "superset" / "covplan_dashboard" / "datasets" / "covplan"


@pytest.mark.parametrize("path", sorted(DATASETS.glob("*.yaml")), ids=lambda p: p.stem)
def test_dataset_columns_match_the_published_schema(path):
    dataset = yaml.safe_load(path.read_text())
    table = dataset["table_name"].removeprefix("latest_")
    described = published_schema.column_descriptions(table)
    columns = {c["column_name"]: c["description"] for c in dataset["columns"]}
    assert list(columns) == list(described)
    assert columns == described
