"""The plan's business assumptions: `config/plan.yaml`, validated at load.

Every other module takes a `PlanConfig` (or one of its parts) rather than reading YAML itself, so a bad
value stops the run once, at the start, with the key's path and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "plan.yaml"

SIZE_BUCKETS = [">=50K", "<50K", "<35K", "<25K", "<15K", "<5K", "blank"]
ROLES = ["key_account_manager", "field", "inside", "digital"]
# Columns a coverage-tier rule may use (ml.segments produces them before the rules run).
SEGMENT_COLUMNS = {
    "size_tier": "object",
    "quadrant": "object",
    "behaviour": "object",
    "lifecycle": "object",
    "revenue_t12m": "float64",
    "potential": "float64",
    "headroom": "float64",
    "share_of_wallet": "float64",
    "open_pipeline_amount": "float64",
}


class ConfigError(ValueError):
    """The plan configuration is invalid; the message names the file, the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoConfig(_Strict):
    size: str | int = "default"
    end_date: date = date(2026, 9, 30)
    years: int = Field(3, ge=2, le=10)


QUARTER_START_MONTHS = (1, 4, 7, 10)


def _cron_months(cron: str) -> set[int] | None:
    """The months a five-field cron fires in (None for `*`); lists and ranges of plain numbers only."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"{cron!r}: write the cron with five fields (e.g. '0 5 1 1 *'), not a macro")
    field = fields[3]
    if field == "*":
        return None
    months: set[int] = set()
    for part in field.split(","):
        low, _, high = part.partition("-")
        if not (low.isdigit() and (not high or high.isdigit())):
            raise ValueError(f"{cron!r}: write the month field as numbers (e.g. 1 or 4,7,10)")
        months.update(range(int(low), int(high or low) + 1))
    return months


RAW_PARQUET_WRITABLE = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfss://", "r2://")


class SparkWarehouseConfig(_Strict):
    """Where the ingest also writes the raw tables as Parquet for a dbt build on Spark (DBT_TARGET=spark).

    `raw_path`: null (no export), a local folder (relative to the project root), or an object store
    URI DuckDB can write (s3://, gs://, az://; needs DuckDB's httpfs/azure extension and credentials).
    `raw_location`: the same folder as Spark sees it (e.g. s3a://bucket/raw, or hdfs://nn/covplan/raw for
    a local folder that is an HDFS mount); null = raw_path (s3:// is then read as s3a://)."""

    raw_path: str | None = None
    raw_location: str | None = None

    @field_validator("raw_path")
    @classmethod
    def _writable(cls, value: str | None) -> str | None:
        if value and "://" in value and not value.lower().startswith(RAW_PARQUET_WRITABLE):
            raise ValueError(
                f"{value!r}: DuckDB cannot write there; use a local folder (an HDFS mount for hdfs://, "
                f"with raw_location: hdfs://...) or one of {', '.join(RAW_PARQUET_WRITABLE)}"
            )
        return value


class WarehouseConfig(_Strict):
    """DuckDB resources for every connection of a run (ingest, the Dagster warehouse, dbt, publish).

    A memory limit below the machine's RAM makes big joins and sorts spill to `temp_directory` instead
    of failing or pushing the machine into swap; null temp_directory = DuckDB's default, a
    `<warehouse file>.tmp` folder next to the warehouse; null threads = one per core."""

    memory_limit: str = Field("6GB", pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")
    temp_directory: str | None = None
    threads: int | None = Field(None, ge=1, le=256)
    spark: SparkWarehouseConfig = SparkWarehouseConfig()


class PlanCalendar(_Strict):
    # Plans, partitions and the feature mart are cut at calendar quarter starts, so a fiscal year must
    # start on one too: January, April, July or October (a February fiscal year is not supported yet).
    fiscal_year_start_month: int = 1
    as_of_date: date | None = None

    @field_validator("fiscal_year_start_month")
    @classmethod
    def _quarter_start_month(cls, value: int) -> int:
        if value not in QUARTER_START_MONTHS:
            raise ValueError(
                f"{value} is not supported: plans are cut at calendar quarter starts, so the fiscal year "
                "must start in month 1, 4, 7 or 10"
            )
        return value


class SchedulesConfig(_Strict):
    timezone: str = "UTC"
    yearly_cron: str = "0 5 1 1 *"
    quarterly_cron: str = "0 5 1 4,7,10 *"
    # the first quarterly partition (a quarter start); None: the first as-of date the demo history
    # (demo.end_date, demo.years) supports (orchestration.partitions.earliest_as_of)
    first_as_of_date: date | None = None

    @field_validator("first_as_of_date")
    @classmethod
    def _quarter_start(cls, value: date | None) -> date | None:
        if value is not None and (value.day != 1 or value.month not in (1, 4, 7, 10)):
            raise ValueError(f"{value} is not a quarter start (YYYY-01-01, -04-01, -07-01 or -10-01)")
        return value

    @field_validator("yearly_cron", "quarterly_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"{value!r} is not a valid cron string (five fields, e.g. '0 5 1 1 *')")
        return value


class GrowthModelConfig(_Strict):
    horizon_quarters: int = Field(4, ge=1, le=8)
    potential_quantile: float = Field(0.85, gt=0.5, lt=1.0)
    max_iter: int = Field(200, ge=10, le=5000)
    learning_rate: float = Field(0.06, gt=0, le=1)
    max_leaf_nodes: int = Field(31, ge=2, le=1024)
    min_training_rows: int = Field(200, ge=10)
    min_samples_leaf: int = Field(200, ge=1, le=100_000)
    # Approximations for large books (0 = off); both are seeded by the plan seed and reported in the metrics.
    max_training_rows: int = Field(100_000, ge=0)  # per fit: a stratified sample above this
    bgnbd_sample_rows: int = Field(20_000, ge=0)  # per cut-off: BG/NBD + Gamma-Gamma fitted on a sample
    predict_threads: int = Field(2, ge=1, le=64)  # threads for predictions (fits stay on OMP_NUM_THREADS)
    fit_threads: int = Field(2, ge=1, le=64)  # model fits side by side, each on OMP_NUM_THREADS threads
    # Quarterly runs score the as-of cut-off with the yearly run's model when it still applies (false:
    # every quarterly run refits and backtests, as the yearly run does).
    quarterly_rescore: bool = True


class SizeTier(_Strict):
    name: str
    min_revenue_t12m: float = Field(ge=0)
    min_employees: int = Field(ge=0)


class SegmentsConfig(_Strict):
    size_tiers: list[SizeTier]
    price_seeking_threshold: float = Field(0.5, ge=0, le=1)
    lapsed_after_days: int = Field(365, ge=30)

    @field_validator("size_tiers")
    @classmethod
    def _ordered_with_catch_all(cls, tiers: list[SizeTier]) -> list[SizeTier]:
        if not tiers:
            raise ValueError("at least one size tier is needed")
        revenue = [t.min_revenue_t12m for t in tiers]
        if revenue != sorted(revenue, reverse=True):
            raise ValueError("size tiers must be ordered from the largest threshold down")
        if tiers[-1].min_revenue_t12m != 0 or tiers[-1].min_employees != 0:
            raise ValueError("the last size tier must have thresholds 0 so every account gets a tier")
        return tiers


class CoverageRule(_Strict):
    tier: str
    role: str
    when: str
    reason: str

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        return role

    @field_validator("when")
    @classmethod
    def _parses(cls, expr: str) -> str:
        probe = pd.DataFrame({c: pd.Series(dtype=t) for c, t in SEGMENT_COLUMNS.items()})
        try:
            probe.eval(expr, engine="python")
        except Exception as exc:  # pandas raises many types for a bad expression
            raise ValueError(
                f"condition {expr!r} does not evaluate over the columns {sorted(SEGMENT_COLUMNS)}: {exc}"
            ) from exc
        return expr


OPPORTUNITY_STAGES = [
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
]  # open stages, earliest first


class SpecialistOverlay(_Strict):
    stage: str
    overlay: str
    reason: str

    @field_validator("stage")
    @classmethod
    def _known_stage(cls, stage: str) -> str:
        if stage not in OPPORTUNITY_STAGES:
            raise ValueError(f"stage {stage!r} is not an open opportunity stage {OPPORTUNITY_STAGES}")
        return stage


def _default_overlays() -> list[SpecialistOverlay]:
    return [
        SpecialistOverlay(
            stage="prospecting", overlay="business_development", reason="early-stage opportunity"
        ),
        SpecialistOverlay(
            stage="qualification", overlay="business_development", reason="opportunity in qualification"
        ),
        SpecialistOverlay(stage="proposal", overlay="solutions_specialist", reason="proposal to shape"),
        SpecialistOverlay(stage="negotiation", overlay="pricing_specialist", reason="deal in negotiation"),
    ]


class OverlayService(_Strict):
    """What one specialist overlay costs: hours a year per account it supports, and the selling hours a
    year one overlay specialist has."""

    hours_per_account: float = Field(ge=0)
    capacity_hours: float = Field(gt=0)


def _default_overlay_service() -> dict[str, OverlayService]:
    return {
        "business_development": OverlayService(hours_per_account=12, capacity_hours=1500),
        "solutions_specialist": OverlayService(hours_per_account=24, capacity_hours=1400),
        "pricing_specialist": OverlayService(hours_per_account=8, capacity_hours=1600),
    }


class WorkloadConfig(_Strict):
    activities: list[str]
    service: dict[str, dict[str, tuple[float, float]]]
    role_factors: dict[str, dict[str, float]]
    capacity_hours: dict[str, float]
    overlays: dict[str, OverlayService] = Field(default_factory=_default_overlay_service)

    @model_validator(mode="after")
    def _complete(self) -> WorkloadConfig:
        missing = [b for b in SIZE_BUCKETS if b not in self.service]
        if missing:
            raise ValueError(f"workload.service lacks size buckets {missing} (need all of {SIZE_BUCKETS})")
        for bucket, row in self.service.items():
            if bucket not in SIZE_BUCKETS:
                raise ValueError(f"workload.service.{bucket}: unknown size bucket (use {SIZE_BUCKETS})")
            if set(row) != set(self.activities):
                raise ValueError(
                    f"workload.service.{bucket} must list exactly the activities {self.activities}"
                )
            for act, (events, hours) in row.items():
                if events < 0 or hours < 0:
                    raise ValueError(f"workload.service.{bucket}.{act}: events and hours must be >= 0")
        for role in ROLES:
            if role not in self.role_factors or set(self.role_factors[role]) != set(self.activities):
                raise ValueError(
                    f"workload.role_factors.{role} must list exactly the activities {self.activities}"
                )
            if self.capacity_hours.get(role, 0) <= 0:
                raise ValueError(f"workload.capacity_hours.{role} must be a positive number of hours")
        clash = sorted(set(self.overlays) & {*ROLES, "none"})
        if clash:
            raise ValueError(
                f"workload.overlays {clash}: an overlay cannot be named like a coverage role or 'none'"
            )
        return self


class TerritoriesConfig(_Strict):
    balance_tolerance: float = Field(0.05, gt=0, lt=1)
    count: dict[str, int] = Field(default_factory=dict)
    geographic_roles: list[str] = Field(default_factory=lambda: ["field"])
    balance_target: float = Field(0.01, gt=0, lt=1)
    measures: list[str] = Field(default_factory=lambda: ["workload"])
    disruption_weight: float = Field(1.0, ge=0)
    candidates: int = Field(8, ge=2, le=50)
    max_iterations: int = Field(8, ge=1, le=100)
    location_arcs_budget: int = Field(6_000_000, ge=0)
    time_limit_seconds: float = Field(180.0, gt=0)
    processes: int = Field(2, ge=1, le=64)
    fixed_centres: bool = False
    locks: dict[str, str] = Field(default_factory=dict)

    @field_validator("measures")
    @classmethod
    def _known_measures(cls, measures: list[str]) -> list[str]:
        allowed = ["workload", "value", "potential", "accounts"]
        if not measures or any(m not in allowed for m in measures) or len(set(measures)) != len(measures):
            raise ValueError(f"territories.measures={measures}: list distinct names from {allowed}")
        return measures

    @field_validator("count")
    @classmethod
    def _positive(cls, count: dict[str, int]) -> dict[str, int]:
        for role, n in count.items():
            if role not in ROLES or n < 1:
                raise ValueError(f"territories.count.{role}={n}: role must be one of {ROLES} and count >= 1")
        return count


class CompanyTarget(_Strict):
    growth_over_baseline: float = Field(0.08, gt=-1, lt=10)
    amount: float | None = Field(None, gt=0)


class GoalsConfig(_Strict):
    company_target: CompanyTarget = CompanyTarget()
    growth_share: float = Field(0.5, ge=0, le=1)
    method: Literal["bottom_up", "top_down", "blend"] = "bottom_up"
    blend_top_down_weight: float = Field(0.5, ge=0, le=1)
    max_growth_over_baseline: float | None = Field(None, gt=-1)


class PublishConfig(_Strict):
    dir: str = "data/published"
    keep_last: int = Field(8, ge=1, le=1000)
    postgres_schema: str = Field("covplan", pattern=r"^[a-z_][a-z0-9_]*$")
    # DuckDB storage format of the published file: BI drivers lag DuckDB releases and a reader must be
    # at least this version (docs/published_schema.md).
    storage_compatibility_version: str = Field("v1.0.0", pattern=r"^(v\d+\.\d+\.\d+|latest)$")


class FreshnessConfig(_Strict):
    """The latest order date may lie at most `max_age_days` before the as-of date of the check."""

    max_age_days: int = Field(120, ge=0, le=3660)
    as_of_date: date | None = None  # null: sources.as_of_date, else the day of the load (demo: demo.end_date)


class RowCountChangeConfig(_Strict):
    """Rows of a load divided by the previous load's of the same source must lie in [min_ratio, max_ratio];
    null leaves that side open."""

    min_ratio: float | None = Field(0.5, ge=0)
    max_ratio: float | None = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RowCountChangeConfig:
        if self.min_ratio is not None and self.max_ratio is not None and self.min_ratio > self.max_ratio:
            raise ValueError("quality.row_count_change: min_ratio must not exceed max_ratio")
        return self


class QualityConfig(_Strict):
    """The data-quality suites (data_quality/): their limits and how many failing rows a result shows."""

    sample_rows: int = Field(10, ge=1, le=1000)
    freshness: FreshnessConfig = Field(default_factory=lambda: FreshnessConfig())
    row_count_change: RowCountChangeConfig = Field(default_factory=lambda: RowCountChangeConfig())


class PlanConfig(_Strict):
    seed: int = 42
    demo: DemoConfig = DemoConfig()
    warehouse: WarehouseConfig = WarehouseConfig()
    plan: PlanCalendar = PlanCalendar()
    schedules: SchedulesConfig = SchedulesConfig()
    growth_model: GrowthModelConfig = GrowthModelConfig()
    segments: SegmentsConfig
    coverage_tiers: list[CoverageRule]
    workload: WorkloadConfig
    territories: TerritoriesConfig = TerritoriesConfig()
    goals: GoalsConfig = GoalsConfig()
    publish: PublishConfig = PublishConfig()
    specialist_overlays: list[SpecialistOverlay] = Field(default_factory=_default_overlays)
    sources: SourcesConfig = Field(default_factory=lambda: SourcesConfig())
    quality: QualityConfig = Field(default_factory=lambda: QualityConfig())

    @field_validator("coverage_tiers")
    @classmethod
    def _catch_all_last(cls, rules: list[CoverageRule]) -> list[CoverageRule]:
        if not rules or rules[-1].when.strip() != "True":
            raise ValueError('the last coverage rule must be the catch-all `when: "True"`')
        return rules

    @model_validator(mode="after")
    def _schedules_follow_the_fiscal_year(self) -> PlanConfig:
        start = self.plan.fiscal_year_start_month
        quarter_starts = {(start - 1 + 3 * k) % 12 + 1 for k in range(4)}
        yearly = _cron_months(self.schedules.yearly_cron)
        if yearly != {start}:
            raise ValueError(
                f"schedules.yearly_cron {self.schedules.yearly_cron!r} must run in month {start} only, "
                f"the start of the fiscal year (plan.fiscal_year_start_month)"
            )
        quarterly = _cron_months(self.schedules.quarterly_cron)
        if quarterly is None or not quarterly <= quarter_starts - {start}:
            raise ValueError(
                f"schedules.quarterly_cron {self.schedules.quarterly_cron!r} must run only in the other "
                f"fiscal quarter starts, months {sorted(quarter_starts - {start})}"
            )
        return self

    @model_validator(mode="after")
    def _overlays_have_service(self) -> PlanConfig:
        missing = sorted({o.overlay for o in self.specialist_overlays} - set(self.workload.overlays))
        if missing:
            raise ValueError(
                f"specialist_overlays name {missing}, which workload.overlays does not list; give each "
                "overlay its hours_per_account and capacity_hours there"
            )
        return self

    def config_hash(self) -> str:
        """A short, stable hash of every assumption: two plans with the same hash used the same config."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


class FileSourceConfig(_Strict):
    """The file drop (docs/sources.md): where extracts land and how their numbers and dates are written."""

    dir: str = "data/inbox"
    decimal: str = Field("auto", pattern=r"^(auto|\.|,)$")  # auto: ',' when the delimiter is ';'
    date_order: str = Field("auto", pattern=r"^(auto|mdy|dmy)$")  # for 1/2/2024-style dates
    settle_seconds: int = Field(60, ge=0)  # sensor: unchanged this long (without a _SUCCESS marker)


class SqlSourceConfig(_Strict):
    """The SQL source: a SQLAlchemy URL read from an environment variable (never from a file)."""

    url_env: str = "COVPLAN_SOURCE_URL"
    tables: dict[str, str] = Field(default_factory=dict)  # entity -> table name (default: the entity)
    queries: dict[str, str] = Field(default_factory=dict)  # entity -> select statement (wins over tables)


class RepsFromOwnersConfig(_Strict):
    """When no reps extract is given, reps are the distinct owner_rep_id of the accounts."""

    role: str = "field"
    roles: dict[str, str] = Field(default_factory=dict)  # rep_id -> role for the exceptions


class SourcesConfig(_Strict):
    """Real sources: column renames per entity, row rules, the file drop and the SQL source."""

    default: Literal["demo", "files", "sql"] = "demo"  # what a run without an explicit source ingests
    columns: dict[str, dict[str, str]] = Field(default_factory=dict)  # entity -> {their column: ours}
    min_date: date = date(1980, 1, 1)  # earlier dates are placeholders (1900-01-01): quarantined
    as_of_date: date | None = None  # latest possible history date; null = the day of the load
    max_future_years: int = Field(5, ge=0, le=50)  # how far an expected close date may lie ahead
    files: FileSourceConfig = Field(default_factory=lambda: FileSourceConfig())
    sql: SqlSourceConfig = Field(default_factory=lambda: SqlSourceConfig())
    reps_from_owners: RepsFromOwnersConfig = Field(default_factory=lambda: RepsFromOwnersConfig())

    @model_validator(mode="after")
    def _known_names(self) -> SourcesConfig:
        from sources.contract import ENTITY_SPECS

        for entity, mapping in self.columns.items():
            if entity not in ENTITY_SPECS:
                raise ValueError(f"sources.columns.{entity}: unknown entity (use {sorted(ENTITY_SPECS)})")
            for theirs, ours in mapping.items():
                if ours not in ENTITY_SPECS[entity].columns:
                    raise ValueError(
                        f"sources.columns.{entity}.{theirs}: {ours!r} is not a contract column of {entity} "
                        f"({', '.join(ENTITY_SPECS[entity].columns)})"
                    )
        for entity in [*self.sql.tables, *self.sql.queries]:
            if entity not in ENTITY_SPECS:
                raise ValueError(f"sources.sql: unknown entity {entity!r} (use {sorted(ENTITY_SPECS)})")
        rep_roles = ENTITY_SPECS["reps"].enums["role"]
        for rep, role in {"(default)": self.reps_from_owners.role, **self.reps_from_owners.roles}.items():
            if role not in rep_roles:
                raise ValueError(
                    f"sources.reps_from_owners role of {rep}: {role!r} is not one of {list(rep_roles)}"
                )
        return self


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PlanConfig:
    """Read and validate the plan config; `overrides` maps dotted keys (``goals.growth_share``) to values."""
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; pass --config or restore config/plan.yaml"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return PlanConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"{path}: {problems}") from None
