"""The dbt project handle, alone in its module so `dagster-dbt project prepare-and-package` can import
it without reading a manifest that does not exist yet."""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
dbt_project.prepare_if_dev()
