"""Growth-potential model: expected revenue over the next four quarters, and a "wallet" per account.

- Expected revenue: a HistGradientBoostingRegressor on the log growth ratio
  log1p(label) − log1p(exposure), where the exposure is the trailing-12-month revenue floored at the 10th
  percentile of positive run-rates (prospects and tiny accounts still get a scale). Prediction =
  expm1(ratio + log1p(exposure)) × calibration, the calibration being total label / total uncalibrated
  prediction on the training rows, so account predictions add up to the right total for goals. The log
  ratio keeps one noisy small account from dominating the fit (the skeleton's Poisson fit on the raw
  multiple y / exposure ranked accounts worse than run-rate on the demo: Spearman 0.946 vs 0.967).
  The calibration makes the predictions an unbiased mean (goals need totals), which costs MAE: MAE is
  minimised by the median, and the run-rate under-predicts by ~7 % on the demo. With one training cut-off
  (three years of history) the calibrated model lost to run-rate on MAE by ~4 % (small demo file backtest:
  3,436 vs 3,306) while winning on Spearman; absolute-error loss, a Poisson fit of the ratio, shrinkage
  towards run-rate and calibration per exposure band were measured and none beat run-rate on MAE with
  |bias| < 2 %. With four training cut-offs (four years) the same model wins on both (2,996 vs 3,341;
  Spearman 0.955 vs 0.944), so the demo ships four years of history.
- Features: the point-in-time mart columns plus ratios a tree finds hard to build from splits: revenue
  per employee (how much of a firm's likely wallet it already buys), last quarter against the trailing
  year (momentum), year over year, revenue per contact, margin %, and contact roles when given.
  Windows the history cannot fill are censored, never zero-filled: with `history_start` (the first day of
  order data) the prior-year revenue of a cutoff less than two years into the history is unknown (NaN),
  and tenure is capped at the shortest history any cutoff has, so early cutoffs look like later ones.
- Contacts are a snapshot: the CRM contacts carry no created date (docs/raw_contract.md: contact_id,
  account_id, role, last_activity_date), so n_contacts and n_contact_roles say who is known *today*, and
  an account that grew after a past cutoff may have gained its contacts because it grew. Those columns
  (and revenue per contact) are therefore blanked on every row before the snapshot, the latest cutoff:
  training rows never see them, so the expected-revenue and wallet models do not use them. A last
  activity date is no substitute: whether a contact was active after a cutoff is itself future data.
- Potential ("wallet"): the `potential_quantile` quantile of what buying look-alikes (accounts with a
  positive label) bought over the next four quarters, from who they are (industry, employees, company
  revenue, contacts and contact roles), never from their own revenue. potential = max(that quantile,
  expected, revenue_t12m); headroom = potential − revenue_t12m.
- Rolling-origin backtest: every labelled cutoff is an origin; the model is refitted on cutoffs whose
  label window ends by the origin (cutoff ≤ origin − horizon) and evaluated at the origin whenever that
  leaves `min_training_rows` rows. Baselines (run-rate, last-quarter × 4, and optionally BG/NBD +
  Gamma-Gamma predictions passed in per cutoff) are scored at every labelled origin. Averages are taken
  over the origins where the model was evaluated, so every predictor is averaged over the same origins.

Large books: each fit (every backtest origin and the final refit, expected-revenue and wallet model
alike) trains on at most `max_training_rows` rows, a seeded sample stratified by cut-off and label band
(`training_sample`); the metrics report the cap and the rows sampled out of those available. The cost of
a fit grows with its rows, and at 500,000 accounts the final refit alone had 4.5M rows. On the default
demo (20,000 accounts) only the final refit (~162,000 labelled rows) exceeds the default cap of 100,000;
capping every fit there at 50,000 rows left the backtest as good (MAE 2,824 → 2,822, RMSE 7,513 →
7,553, Spearman 0.968 → 0.970, top-decile capture 0.607 → 0.608; benchmarks/growth.py).

Threads: scikit-learn's histogram gradient boosting parallelises with OpenMP, which contends badly on
small shared machines (single fits of ~1 s took 20–60 s on 2 busy cores). This module sets
OMP_NUM_THREADS=1 before importing scikit-learn's ensemble module unless the variable is already set,
and limits the OpenMP pool around every fit (threadpoolctl). Predictions, whose cost grows with the
book, are split by rows over `growth_model.predict_threads` Python threads of one OpenMP thread each
(`predict_rows`, `_TreeEnsemble`): rows are independent, so the result is the single-thread result.
The model fits (two per backtest origin, two for the final refit) are independent and seeded too: they
run side by side on `growth_model.fit_threads` threads (`_fit_all`), giving the same models.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before sklearn.ensemble is imported; see module docstring

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from planning.config import GrowthModelConfig

KEY_COLUMNS = ["account_id", "cutoff_date", "is_latest", "label_revenue_next_4q"]
MART_FEATURES = [
    "employees",
    "annual_revenue",
    "n_contacts",
    "revenue_t12m",
    "revenue_prev_t12m",
    "revenue_last_q",
    "gross_margin_t12m",
    "orders_t12m",
    "n_categories_t12m",
    "share_rfp",
    "share_web",
    "avg_discount",
    "recency_days",
    "tenure_days",
]
OPTIONAL_FEATURES = ["n_contact_roles"]  # dim_accounts (current CRM snapshot); NaN when not given
# Known only at the CRM snapshot (no created date): blanked before it, see the module docstring.
SNAPSHOT_FEATURES = ["n_contacts", "n_contact_roles"]
DERIVED_FEATURES = ["revenue_per_employee", "momentum", "yoy_ratio", "revenue_per_contact", "margin_pct"]
NUMERIC_FEATURES = MART_FEATURES + OPTIONAL_FEATURES + DERIVED_FEATURES
CATEGORICAL_FEATURES = ["industry"]
EXPECTED_FEATURES = CATEGORICAL_FEATURES + NUMERIC_FEATURES
# Wallet look-alikes: who the account is, not how much it buys from us.
POTENTIAL_FEATURES = ["industry", "employees", "annual_revenue", "n_contacts", "n_contact_roles"]
REQUIRED_COLUMNS = KEY_COLUMNS + CATEGORICAL_FEATURES + MART_FEATURES
ARROW_BATCH_ROWS = 1_000_000  # rows per Arrow record batch when reading the features
PARALLEL_MIN_ROWS = 5_000  # fewer rows per thread than this: one thread predicts (start-up costs more)
MAX_CATEGORIES = 250  # HistGradientBoosting accepts at most 255 categories per feature
# The fitted models are pickled with the classes of this file: a rescore must use the same code.
MODEL_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
PREDICTORS = ("model", "baseline_runrate", "baseline_lastq", "baseline_bgnbd")
METRICS = ("mae", "rmse", "spearman", "top_decile_capture", "bias")

# Words for reason codes: (above the portfolio median, below it, missing).
REASON_WORDS = {
    "employees": ("many employees", "few employees", "employees unknown"),
    "annual_revenue": ("large company revenue", "small company revenue", "company revenue unknown"),
    "n_contacts": ("many contacts", "few contacts", "contacts unknown"),
    "n_contact_roles": ("broad relationship (many contact roles)", "narrow relationship (few contact roles)",
                        "contact roles unknown"),
    "revenue_t12m": ("high trailing-12-month revenue", "low trailing-12-month revenue", "no recent revenue"),
    "revenue_prev_t12m": ("high prior-year revenue", "low prior-year revenue", "prior year not in the history"),
    "revenue_last_q": ("strong last quarter", "weak last quarter", "no last-quarter revenue"),
    "gross_margin_t12m": ("high gross margin", "low gross margin", "margin unknown"),
    "orders_t12m": ("frequent orders", "few orders", "no orders"),
    "n_categories_t12m": ("broad category mix", "narrow category mix", "no categories bought"),
    "share_rfp": ("high RFP share", "low RFP share", "RFP share unknown"),
    "share_web": ("high web share", "low web share", "web share unknown"),
    "avg_discount": ("deep discounts", "shallow discounts", "discount unknown"),
    "recency_days": ("long since last order", "ordered recently", "no orders yet"),
    "tenure_days": ("long tenure", "short tenure", "tenure unknown"),
    "revenue_per_employee": ("already buys much for its size (little headroom)",
                             "buys little for its size (headroom)", "no spend to compare with size"),
    "momentum": ("last quarter above its yearly pace", "last quarter below its yearly pace", "no recent pace"),
    "yoy_ratio": ("grew over the prior year", "shrank over the prior year", "no prior year to compare"),
    "revenue_per_contact": ("much revenue per contact", "little revenue per contact", "no revenue per contact"),
    "margin_pct": ("high margin %", "low margin %", "margin % unknown"),
}  # fmt: skip
NO_REASON = "close to the portfolio's typical account"


class GrowthInputError(ValueError):
    """The feature frame cannot be used as given (missing columns, duplicate accounts, no as-of rows)."""


class InsufficientHistoryError(ValueError):
    """Too little labelled history to train and honestly validate the growth model."""


@dataclass(frozen=True)
class GrowthResult:
    """Scores for the as-of cutoff, the backtest that justifies them, the model's version and artifact."""

    scores: pd.DataFrame  # account_id, revenue_t12m, expected_revenue_next_4q, potential, headroom, baseline_next_4q, reason_codes
    metrics: dict[str, float | int | str]
    model_version: str  # growth-<config hash>-<seed>
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)  # cutoff × predictor metrics
    artifact: dict = field(default_factory=dict)  # the fitted final models, to pickle


def train_and_score(
    features: pd.DataFrame,
    cfg: GrowthModelConfig,
    seed: int,
    config_hash: str = "",
    history_start: date | pd.Timestamp | None = None,
    bgnbd: pd.DataFrame | None = None,
    timings: dict[str, dict[str, float]] | None = None,
) -> GrowthResult:
    """Rolling-origin backtest against the baselines, then refit on every label and score the as-of rows.

    `features` is `marts.fct_account_features` (one row per account × cutoff_date), optionally with
    n_contact_roles. `history_start`: first day of order history (censors windows it cannot fill).
    `bgnbd`: optional BG/NBD + Gamma-Gamma predictions (account_id, cutoff_date, predicted_value) made
    with data before each cutoff (ml.backtest.bgnbd_predictions). Raises InsufficientHistoryError when no
    origin has `min_training_rows` training rows whose label window ends by the origin.
    """
    frame = prepare_features(features, history_start)
    h = cfg.horizon_quarters
    quarter = _quarter_index(frame["cutoff_date"])
    latest = frame["is_latest"].to_numpy()
    label = frame["label_revenue_next_4q"].to_numpy(dtype="float64")
    labelled = ~np.isnan(label) & ~latest
    if not latest.any():
        raise GrowthInputError("no row has is_latest = true: the feature frame has no as-of cutoff to score")
    if not labelled.any():
        raise InsufficientHistoryError(
            _history_message(frame, quarter, labelled, h, "no cutoff has an observable label_revenue_next_4q")
        )
    y = np.clip(label, 0, None)
    run_rate = frame["revenue_t12m"].to_numpy(dtype="float64")
    bg = _align_bgnbd(frame, bgnbd)

    origins = [pd.Timestamp(o) for o in sorted(frame.loc[labelled, "cutoff_date"].unique())]
    at_origin, train_of = {}, {}  # origin -> its rows; origin -> its training rows where the model is fitted
    for origin in origins:
        at = labelled & (frame["cutoff_date"] == origin).to_numpy()
        train = labelled & (quarter <= quarter[at][0] - h)
        at_origin[origin] = at
        if train.sum() >= cfg.min_training_rows and np.clip(y[train], 0, None).sum() > 0:
            train_of[origin] = train
    if not train_of:
        problem = (
            f"no labelled cutoff has {cfg.min_training_rows} training rows (growth_model.min_training_rows) "
            f"whose {h}-quarter label window ends by it"
        )
        best = int(max((labelled & (quarter <= q - h)).sum() for q in np.unique(quarter[labelled])))
        problem = f"only {best} training rows at best: {problem}"
        raise InsufficientHistoryError(_history_message(frame, quarter, labelled, h, problem))
    model_origins = list(train_of)
    last_train = train_of[model_origins[-1]]

    timer = StepTimer(timings if timings is not None else {})
    threads = cfg.predict_threads
    sampled = {"rows": 0, "of": 0}
    with timer.step("fits"):  # every backtest origin's two models and the final refit's, side by side
        fitted = _fit_all([*train_of.values(), labelled], frame, y, run_rate, quarter, cfg, seed, sampled)
    rows: list[dict] = []
    with threadpool_limits(limits=_omp_threads(), user_api="openmp"), timer.step("backtest_predict"):
        for origin in origins:
            at = at_origin[origin]
            actual = y[at]
            preds = {
                "baseline_runrate": np.clip(np.nan_to_num(run_rate[at]), 0, None),
                "baseline_lastq": np.clip(
                    4 * np.nan_to_num(frame.loc[at, "revenue_last_q"].to_numpy(float)), 0, None
                ),
            }
            if bg is not None and np.isfinite(bg[at]).any():
                preds["baseline_bgnbd"] = bg[at]
            coverage = np.nan
            if origin in train_of:
                model, wallet = fitted[model_origins.index(origin)]
                at_rows = frame.loc[at]
                preds["model"] = model.predict(at_rows[EXPECTED_FEATURES], run_rate[at], threads)
                buyers = actual > 0
                if buyers.any():
                    at_wallet = wallet.predict(at_rows[buyers], threads)  # coverage is over buyers only
                    coverage = float(np.mean(actual[buyers] <= at_wallet))
            for name, pred in preds.items():
                rows.append(
                    {
                        "cutoff_date": origin.date().isoformat(),
                        "predictor": name,
                        **evaluate(pred, actual),
                        "rows": int(at.sum()),
                        "train_rows": int(train_of[origin].sum()) if name == "model" else 0,
                        "potential_coverage": coverage if name == "model" else np.nan,
                    }
                )
    # the refit on every label scores the as-of cutoff
    model, wallet = fitted[-1]
    with threadpool_limits(limits=_omp_threads(), user_api="openmp"):
        with timer.step("score"):
            score_frame = frame.loc[latest]
            expected = model.predict(score_frame[EXPECTED_FEATURES], run_rate[latest], threads)
            quantile = np.clip(wallet.predict(score_frame, threads), 0, None)
        with timer.step("reason_codes"):
            reasons = _reason_codes(model, score_frame[EXPECTED_FEATURES], run_rate[latest], threads)

    scores = _scores(score_frame, run_rate[latest], expected, quantile, reasons)

    backtest = pd.DataFrame(rows)
    version = model_version(config_hash or _cfg_hash(cfg), seed)
    on_model = backtest[backtest["cutoff_date"].isin([o.date().isoformat() for o in model_origins])]
    metrics: dict[str, float | int | str] = {}
    for name in PREDICTORS:
        part = on_model[on_model["predictor"] == name]
        if len(part):
            metrics.update({f"{name}_{k}": float(part[k].mean()) for k in METRICS})
    valid_actual = y[labelled & (frame["cutoff_date"] == model_origins[-1]).to_numpy()]
    metrics["oracle_top_decile_capture"] = _top_decile_capture(valid_actual, valid_actual)
    metrics["potential_quantile"] = cfg.potential_quantile
    metrics["potential_valid_coverage"] = float(
        on_model.loc[on_model["predictor"] == "model", "potential_coverage"].mean()
    )
    metrics.update(
        {
            "backtest_origins": len(model_origins),
            "backtest_cutoffs": ",".join(o.date().isoformat() for o in model_origins),
            "labelled_cutoffs": len(origins),
            "train_rows": int(last_train.sum()),
            "valid_rows": int(len(valid_actual)),
            "final_train_rows": int(labelled.sum()),
            "scored_rows": int(latest.sum()),
            "train_cutoff_min": frame.loc[last_train, "cutoff_date"].min().date().isoformat(),
            "train_cutoff_max": frame.loc[last_train, "cutoff_date"].max().date().isoformat(),
            "valid_cutoff": model_origins[-1].date().isoformat(),
            "scoring_cutoff": score_frame["cutoff_date"].max().date().isoformat(),
            "fitted_scoring_cutoff": score_frame["cutoff_date"].max().date().isoformat(),
            "rescored": False,  # True when a quarterly run scored with the model of an earlier run (rescore)
            "horizon_quarters": h,
            "model_n_iter": int(model.model.n_iter_),
            "max_training_rows": cfg.max_training_rows,
            "training_rows_sampled": sampled["rows"],  # over every fit of the backtest and the final refit
            "training_rows_available": sampled["of"],
            "exposure_floor": model.floor,
            "calibration": model.calibration,
            "seed": seed,
            "model_version": version,
            "backtest_table": backtest_json(backtest),
        }
    )
    artifact = {
        "model_version": version,
        "expected": model,
        "potential": wallet,
        "features": EXPECTED_FEATURES,
        "potential_features": POTENTIAL_FEATURES,
        "config": cfg.model_dump(mode="json"),
        "seed": seed,
        # what a quarterly run needs to rescore with this model (rescore, rescore_problem)
        "code": MODEL_CODE,
        "industries": frame.attrs["industries"],
        "metrics": metrics,
        "backtest": backtest,
    }
    return GrowthResult(
        scores=scores, metrics=metrics, model_version=version, backtest=backtest, artifact=artifact
    )


def _scores(
    score_frame: pd.DataFrame,
    revenue_t12m: np.ndarray,
    expected: np.ndarray,
    quantile: np.ndarray,
    reasons: np.ndarray,
) -> pd.DataFrame:
    """The ml.account_scores rows: potential = max(wallet quantile, expected, run-rate)."""
    potential = np.fmax(np.fmax(quantile, expected), np.nan_to_num(revenue_t12m))
    return pd.DataFrame(
        {
            "account_id": score_frame["account_id"].to_numpy(),
            "revenue_t12m": revenue_t12m,
            "expected_revenue_next_4q": expected,
            "potential": potential,
            "headroom": np.clip(potential - np.nan_to_num(revenue_t12m), 0, None),
            "baseline_next_4q": np.clip(np.nan_to_num(revenue_t12m), 0, None),
            "reason_codes": reasons,
        }
    ).reset_index(drop=True)


def model_version(config_hash: str, seed: int) -> str:
    """The name of a fitted model (and of its file under models/): the plan config it was fitted with
    and the seed."""
    return f"growth-{config_hash}-{seed}"


# Settings that change how fast a model is fitted or used, not which model: a rescore ignores them.
SPEED_SETTINGS = {"predict_threads", "fit_threads", "quarterly_rescore"}


def model_settings(cfg: GrowthModelConfig) -> dict:
    """The growth_model settings a fitted model depends on."""
    return cfg.model_dump(mode="json", exclude=SPEED_SETTINGS)


def model_file_prefix(cfg: GrowthModelConfig, seed: int) -> str:
    """Start of the file names of the models fitted with these settings and seed by this code; the
    fitted cut-off and the code follow (`model_file_name`), so no fit ever overwrites another's file."""
    digest = hashlib.sha256(json.dumps(model_settings(cfg), sort_keys=True).encode()).hexdigest()[:12]
    return f"growth-{digest}-{seed}-"


def model_file_name(cfg: GrowthModelConfig, seed: int, fitted_cutoff: date | pd.Timestamp) -> str:
    return f"{model_file_prefix(cfg, seed)}{pd.Timestamp(fitted_cutoff):%Y%m%d}-{MODEL_CODE[:8]}.pkl"


def fitted_cutoff_of(file_name: str) -> pd.Timestamp | None:
    """The fitted cut-off in a `model_file_name`, None for a name not of that form."""
    parts = file_name.removesuffix(".pkl").split("-")
    try:
        return pd.Timestamp(parts[-2]) if len(parts) >= 5 and len(parts[-2]) == 8 else None
    except ValueError:
        return None


def rescore_problem(
    artifact: dict,
    cfg: GrowthModelConfig,
    seed: int,
    scoring_cutoff: date | pd.Timestamp,
    inputs: dict[str, str] | None = None,
) -> str | None:
    """Why the model of an earlier run cannot score this run's as-of cut-off (None: it can).

    It can when it was fitted by this code with these growth_model settings and seed, with the same
    `inputs` (e.g. the dbt project that defines the features and the scikit-learn version the pickle
    needs), on data up to a cut-off no later than this one (a model of a later as-of would carry labels
    this run's date cannot know: a backfill must refit) and less than a year earlier (the yearly run
    refits)."""
    missing = [
        k for k in ("code", "industries", "metrics", "backtest", "config", "seed") if k not in artifact
    ]
    if missing:
        return f"the model file predates quarterly rescoring (no {', '.join(missing)})"
    if artifact["code"] != MODEL_CODE:
        return "ml/growth.py changed since the model was fitted"
    fitted_settings = {k: v for k, v in artifact["config"].items() if k not in SPEED_SETTINGS}
    if fitted_settings != model_settings(cfg) or artifact["seed"] != seed:
        return "growth_model settings or the seed changed since the model was fitted"
    changed = sorted(k for k, v in (inputs or {}).items() if artifact.get("inputs", {}).get(k) != v)
    if changed:
        return f"{' and '.join(changed)} changed since the model was fitted"
    trained = pd.Timestamp(artifact["metrics"]["scoring_cutoff"])
    now = pd.Timestamp(scoring_cutoff)
    if trained > now:
        return f"the model was fitted as of {trained.date()}, after this plan's cut-off {now.date()}"
    quarters = (now.year - trained.year) * 4 + (now.quarter - trained.quarter)
    if quarters >= 4:
        return f"the model was fitted as of {trained.date()}, {quarters} quarters before {now.date()}"
    return None


def rescore(
    features: pd.DataFrame,
    artifact: dict,
    history_start: date | pd.Timestamp | None,
    first_cutoff: date | pd.Timestamp | None,
    threads: int = 1,
    timings: dict[str, dict[str, float]] | None = None,
) -> GrowthResult:
    """Score the as-of rows of `features` with the models an earlier (yearly) run fitted: no backtest and
    no refit. The backtest and metrics are that run's, the evidence for the model these scores come from;
    `first_cutoff` is the earliest cut-off of the whole feature mart (see prepare_features). Call
    `rescore_problem` first."""
    frame = prepare_features(features, history_start, first_cutoff, artifact["industries"])
    latest = frame["is_latest"].to_numpy()
    if not latest.any():
        raise GrowthInputError("no row has is_latest = true: the feature frame has no as-of cutoff to score")
    score_frame = frame.loc[latest]
    run_rate = score_frame["revenue_t12m"].to_numpy(dtype="float64")
    model, wallet = artifact["expected"], artifact["potential"]
    timer = StepTimer(timings if timings is not None else {})
    with threadpool_limits(limits=_omp_threads(), user_api="openmp"):
        with timer.step("score"):
            expected = model.predict(score_frame[EXPECTED_FEATURES], run_rate, threads)
            quantile = np.clip(wallet.predict(score_frame, threads), 0, None)
        with timer.step("reason_codes"):
            reasons = _reason_codes(model, score_frame[EXPECTED_FEATURES], run_rate, threads)
    fitted = artifact["metrics"]
    metrics = {
        **fitted,
        "scored_rows": int(latest.sum()),
        "scoring_cutoff": score_frame["cutoff_date"].max().date().isoformat(),
        "fitted_scoring_cutoff": fitted["scoring_cutoff"],
        "rescored": True,
    }
    return GrowthResult(
        scores=_scores(score_frame, run_rate, expected, quantile, reasons),
        metrics=metrics,
        model_version=artifact["model_version"],
        backtest=artifact["backtest"],
        artifact=artifact,
    )


def backtest_json(backtest: pd.DataFrame) -> str:
    """The per-cutoff table as compact JSON (NaN → null), for one-row metric tables."""
    clean = backtest.astype(object).where(backtest.notna(), None)
    return json.dumps(clean.to_dict("records"), separators=(",", ":"))


def backtest_markdown(backtest: pd.DataFrame) -> str:
    """Per-cutoff metrics as a markdown table a person reads (one row per cutoff × predictor)."""
    if backtest.empty:
        return "_no backtest_"
    table = backtest[
        ["cutoff_date", "predictor", "mae", "rmse", "spearman", "top_decile_capture", "bias", "train_rows"]
    ]
    return table.to_markdown(index=False, floatfmt=",.3f")


def read_features(
    con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int = ARROW_BATCH_ROWS
) -> pd.DataFrame:
    """The columns the model uses from `sql` (fct_account_features, optionally with n_contact_roles),
    read through Arrow record batches of `batch_rows` and assembled as one numpy array per column.

    Why not `.df()`: it materialises every mart column (about twice the model's) as float64/object and
    then prepare_features copies them again; here only the needed columns leave DuckDB, numbers arrive
    as float64 arrays with NULL as NaN and nothing else is copied. Same frame as `.df()` would give
    for these columns (tests/unit/test_growth.py checks it).
    """
    probe = con.execute(f"select * from ({sql}) limit 0")
    present = [d[0] for d in probe.description]
    wanted = [c for c in REQUIRED_COLUMNS + OPTIONAL_FEATURES if c in present]
    if missing := [c for c in REQUIRED_COLUMNS if c not in present]:
        raise GrowthInputError(
            f"fct_account_features lacks columns {missing}; the growth model needs {REQUIRED_COLUMNS}"
        )
    projected = ", ".join(f'"{c}"' for c in wanted)
    reader = con.sql(f"select {projected} from ({sql}) order by cutoff_date, account_id").to_arrow_reader(
        batch_rows
    )
    parts: dict[str, list[np.ndarray]] = {c: [] for c in wanted}
    for batch in reader:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            parts[name].append(_arrow_to_numpy(column))
    data = {c: (np.concatenate(v) if v else np.empty(0)) for c, v in parts.items()}
    return pd.DataFrame(data, copy=False)


def _arrow_to_numpy(column: pa.Array) -> np.ndarray:
    """One Arrow column as numpy: numbers → float64 (NULL → NaN), dates → datetime64, booleans →
    object only when they hold NULLs, strings → object."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        return column.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
    return column.to_numpy(zero_copy_only=False)


def prepare_features(
    features: pd.DataFrame,
    history_start: date | pd.Timestamp | None = None,
    first_cutoff: date | pd.Timestamp | None = None,
    industries: list[str] | None = None,
) -> pd.DataFrame:
    """Check the columns; return a copy with float features, datetimes, a categorical industry, the
    derived ratios and censored windows (see the module docstring).

    For rescoring only the as-of rows with a model fitted on the whole frame (`rescore`), two properties
    of that whole frame are passed in, so the as-of rows get the features the model was trained with:
    `first_cutoff` (the earliest cut-off, which caps tenure) and `industries` (the categories it kept)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise GrowthInputError(
            f"fct_account_features lacks columns {missing}; the growth model needs {REQUIRED_COLUMNS}"
        )
    keep = REQUIRED_COLUMNS + [c for c in OPTIONAL_FEATURES if c in features.columns]
    frame = features[keep].reset_index(drop=True)
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    if not _sorted_by_cutoff_and_account(frame):  # read_features delivers them sorted: skip the sort
        frame = frame.sort_values(["cutoff_date", "account_id"], kind="stable").reset_index(drop=True)
    for col in OPTIONAL_FEATURES:
        if col not in frame:
            frame[col] = np.nan
    frame["is_latest"] = frame["is_latest"].fillna(False).astype(bool)
    dupes = _repeated_keys(frame)
    if dupes.any():
        example = frame.loc[dupes, ["account_id", "cutoff_date"]].iloc[0].to_dict()
        raise GrowthInputError(f"{int(dupes.sum())} duplicate account × cutoff rows, e.g. {example}")
    for col in MART_FEATURES + OPTIONAL_FEATURES + ["label_revenue_next_4q"]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    industry = frame["industry"].astype("object").where(frame["industry"].notna(), None)
    top = industry.value_counts().index[:MAX_CATEGORIES] if industries is None else pd.Index(industries)
    frame["industry"] = pd.Categorical(industry.where(industry.isin(top), "other" if len(top) else None))
    frame.attrs["industries"] = top.tolist()  # what a rescore with this frame's model must keep

    if history_start is not None:
        start = pd.Timestamp(history_start)
        prev_complete = frame["cutoff_date"] >= start + pd.DateOffset(years=2)
        frame.loc[~prev_complete.to_numpy(), "revenue_prev_t12m"] = np.nan
        earliest = frame["cutoff_date"].min() if first_cutoff is None else pd.Timestamp(first_cutoff)
        shortest = float((earliest - start).days)
        frame["tenure_days"] = frame["tenure_days"].clip(upper=max(shortest, 0.0))

    # contacts: point-in-time only at the snapshot (the latest cutoff); see the module docstring
    before_snapshot = (frame["cutoff_date"] < frame["cutoff_date"].max()).to_numpy()
    frame.loc[before_snapshot, SNAPSHOT_FEATURES] = np.nan

    rev = frame["revenue_t12m"]
    positive = rev.where(rev > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["revenue_per_employee"] = rev / frame["employees"].where(frame["employees"] > 0)
        frame["momentum"] = 4 * frame["revenue_last_q"] / positive
        frame["yoy_ratio"] = rev / frame["revenue_prev_t12m"].where(frame["revenue_prev_t12m"] > 0)
        frame["revenue_per_contact"] = rev / frame["n_contacts"].where(frame["n_contacts"] > 0)
        frame["margin_pct"] = frame["gross_margin_t12m"] / positive
    return frame


def _repeated_keys(frame: pd.DataFrame) -> pd.Series:
    """`frame.duplicated(["account_id", "cutoff_date"])` for a frame sorted by those keys: a repeat is
    next to its first row, so comparing neighbours finds it without hashing millions of string keys."""
    accounts = frame["account_id"]
    if accounts.isna().any():  # NaN != NaN next to each other: let pandas treat missing keys as equal
        return frame.duplicated(["account_id", "cutoff_date"])
    acc = accounts.to_numpy(dtype=object)
    cut = frame["cutoff_date"].to_numpy()
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[1:] = (cut[1:] == cut[:-1]) & (acc[1:] == acc[:-1])
    return pd.Series(repeated, index=frame.index)


def _sorted_by_cutoff_and_account(frame: pd.DataFrame) -> bool:
    """Whether rows are already in (cutoff_date, account_id) order: a check costs one comparison per
    row, a sort of millions of string keys many."""
    accounts = frame["account_id"]
    if len(frame) < 2 or accounts.isna().any() or frame["cutoff_date"].isna().any():
        return len(frame) < 2
    cut = frame["cutoff_date"].to_numpy()
    acc = accounts.to_numpy(dtype=object)
    try:
        ok = (cut[1:] > cut[:-1]) | ((cut[1:] == cut[:-1]) & (acc[1:] >= acc[:-1]))
    except TypeError:  # mixed key types: let pandas sort them
        return False
    return bool(ok.all())


def _history_message(
    frame: pd.DataFrame, quarter: np.ndarray, labelled: np.ndarray, h: int, problem: str
) -> str:
    """Say how much history the backtest needs and what the feature frame holds."""
    cutoffs = np.sort(frame["cutoff_date"].unique())
    span = (
        f" ({pd.Timestamp(cutoffs[0]).date()} .. {pd.Timestamp(cutoffs[-1]).date()})" if len(cutoffs) else ""
    )
    return (
        f"{problem}. The growth model needs at least {2 * h + 1} quarterly cutoffs: the as-of cutoff, {h} "
        f"quarters before it one whose next-{h}-quarter label is observable (a backtest origin), and {h} "
        f"quarters before that one to train on, so its label window ends where the origin starts; about "
        f"{(2 * h + 4) / 4:g} years of orders including a trailing year before the first cutoff. Found "
        f"{len(cutoffs)} cutoff(s){span}, {np.unique(quarter[labelled]).size} with observable labels. Load "
        "more order history (or lower growth_model.min_training_rows in config/plan.yaml for a small book)."
    )


def _align_bgnbd(frame: pd.DataFrame, bgnbd: pd.DataFrame | None) -> np.ndarray | None:
    """BG/NBD predictions aligned to the frame's rows (NaN where the cutoff was not predicted).

    Keys are matched as (cut-off, account position) integers, not merged as strings: a merge on the
    8 million account × cut-off strings of 500,000 accounts took ~18 s, the integer lookup a fraction."""
    if bgnbd is None or bgnbd.empty:
        return None
    accounts, account_ids = pd.factorize(frame["account_id"])
    cutoffs = frame["cutoff_date"].to_numpy(dtype="datetime64[ns]")
    b_cutoffs = pd.to_datetime(bgnbd["cutoff_date"]).to_numpy(dtype="datetime64[ns]")
    b_accounts = account_ids.get_indexer(bgnbd["account_id"])  # -1: an account the frame lacks
    # the few distinct cut-off days (hashed, not sorted out of millions of rows), then each row's day
    days = np.union1d(pd.unique(cutoffs), pd.unique(b_cutoffs))
    frame_day, b_day = np.searchsorted(days, cutoffs), np.searchsorted(days, b_cutoffs)
    width = np.int64(len(account_ids) + 1)
    frame_key = frame_day * width + accounts
    known = b_accounts >= 0
    b_key = (b_day * width + b_accounts)[known]
    b_values = bgnbd["predicted_value"].to_numpy(dtype="float64")[known]
    order = np.argsort(b_key, kind="stable")
    b_key, b_values = b_key[order], b_values[order]
    at = np.clip(np.searchsorted(b_key, frame_key), 0, max(len(b_key) - 1, 0))
    found = (b_key[at] == frame_key) if len(b_key) else np.zeros(len(frame_key), bool)
    values = np.where(found, b_values[at] if len(b_key) else np.nan, np.nan)
    predicted_day = np.zeros(len(days), dtype=bool)
    predicted_day[b_day] = True
    in_cutoff = predicted_day[frame_day]
    # an account with no purchase before a predicted cutoff has no BG/NBD history: it predicts 0
    return np.where(in_cutoff, np.nan_to_num(values), np.nan)


def _omp_threads() -> int:
    """OpenMP threads for fitting: OMP_NUM_THREADS (first level if nested, e.g. "4,2"), else 1."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1").split(",")[0]))
    except ValueError:
        return 1


def _quarter_index(dates: pd.Series) -> np.ndarray:
    """Quarters since year 0, so cutoffs a whole number of quarters apart differ by that number."""
    return (dates.dt.year * 4 + (dates.dt.month - 1) // 3).to_numpy()


def _cfg_hash(cfg: GrowthModelConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:12]


def _min_leaf(cfg: GrowthModelConfig, n_rows: int) -> int:
    """Large leaves regularise the noisy growth ratio (on the demo, 20 → 200 rows per leaf lifted the
    holdout Spearman from 0.969 to 0.975); small books get n / 50, at least 20."""
    return int(min(cfg.min_samples_leaf, max(20, n_rows // 50)))


@dataclass
class StepTimer:
    """Wall and CPU seconds per named step (CPU: this process, all threads); a step timed again adds to
    its figures (the backtest's fits over every origin)."""

    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # rounded to the millisecond
    _sums: dict[str, tuple[float, float]] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            before = self._sums.get(name, (0.0, 0.0))
            total = (before[0] + time.perf_counter() - wall, before[1] + time.process_time() - cpu)
            self._sums[name] = total
            self.steps[name] = {"seconds": round(total[0], 3), "cpu_seconds": round(total[1], 3)}


def label_bands(y: np.ndarray, n_bands: int = 10) -> np.ndarray:
    """0 for a zero label, else 1..n_bands by quantile of the positive labels (the strata of a sample)."""
    bands = np.zeros(len(y), dtype=np.int64)
    positive = y > 0
    if positive.any():
        edges = np.quantile(y[positive], np.linspace(0, 1, n_bands + 1)[1:-1])
        bands[positive] = 1 + np.searchsorted(edges, y[positive], side="right")
    return bands


def training_sample(strata: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most `max_rows` rows, every stratum at the same rate.

    Proportional allocation (largest remainder, so exactly `max_rows` rows), then within each stratum
    the rows with the smallest seeded random keys. With max_rows = 0 or no more rows than that: all.
    Why: the fits' cost grows with rows, and a histogram gradient boosting fit on a few hundred thousand
    rows of a few dozen features learns the same splits as one on millions; stratifying by cut-off and
    label band keeps every period and the rare large buyers represented at their true share.
    """
    n = len(strata)
    if max_rows <= 0 or n <= max_rows:
        return np.arange(n)
    groups, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    exact = counts * (max_rows / n)
    quota = np.floor(exact).astype(np.int64)
    short = max_rows - int(quota.sum())
    if short > 0:  # largest fractional parts first; ties by stratum order
        quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    key = np.random.default_rng(seed).random(n)
    order = np.lexsort((key, inverse))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[inverse[order]]
    return np.flatnonzero(rank < quota[inverse])


def _fit_all(
    trains: list[np.ndarray],
    frame: pd.DataFrame,
    y: np.ndarray,
    run_rate: np.ndarray,
    quarter: np.ndarray,
    cfg: GrowthModelConfig,
    seed: int,
    sampled: dict[str, int],
) -> list[tuple[ExpectedModel, PotentialModel]]:
    """The expected-revenue and wallet models on each of `trains` (row masks), in that order.

    Each fit trains on a stratified sample of at most cfg.max_training_rows of its rows (strata: cut-off
    quarter × label band); `sampled` counts rows used / available over all fits. The fits are
    independent and seeded, so they run side by side on `cfg.fit_threads` Python threads (each with
    OMP_NUM_THREADS OpenMP threads) and give the models a one-after-the-other run gives: scikit-learn's
    histogram building and split finding release the GIL (two fits on two threads: ~0.7x the time of
    one after the other, measured on this machine)."""

    def expected_fit(train: np.ndarray) -> tuple[ExpectedModel, int, int]:
        rows = np.flatnonzero(train)
        pick = rows[training_sample(quarter[rows] * 16 + label_bands(y[rows]), cfg.max_training_rows, seed)]
        with threadpool_limits(limits=_omp_threads(), user_api="openmp"):
            model = fit_expected(frame[EXPECTED_FEATURES].take(pick), y[pick], run_rate[pick], cfg, seed)
        return model, len(pick), len(rows)

    def wallet_fit(train: np.ndarray) -> tuple[PotentialModel, int, int]:
        buyers = np.flatnonzero(train & (y > 0))
        strata = quarter[buyers] * 16 + label_bands(y[buyers])
        pick = buyers[training_sample(strata, cfg.max_training_rows, seed)]
        with threadpool_limits(limits=_omp_threads(), user_api="openmp"):
            wallet = fit_potential(frame.take(pick), y[pick], cfg, seed)
        return wallet, len(pick), len(buyers)

    with ThreadPoolExecutor(max_workers=cfg.fit_threads) as pool:
        jobs = [(pool.submit(expected_fit, t), pool.submit(wallet_fit, t)) for t in trains]
        done = [(e.result(), w.result()) for e, w in jobs]
    for (_, *e_rows), (_, *w_rows) in done:
        sampled["rows"] += e_rows[0] + w_rows[0]
        sampled["of"] += e_rows[1] + w_rows[1]
    return [(e[0], w[0]) for e, w in done]


def predict_rows(model: HistGradientBoostingRegressor, X: pd.DataFrame, threads: int) -> np.ndarray:
    """`model.predict(X)` with the rows split into `threads` contiguous parts predicted side by side.

    Why threads of one OpenMP thread each rather than OpenMP on 2 threads: a tree's prediction of a row
    depends on that row alone (so the parts concatenate to exactly the single-call floats), and
    independent parts need no OpenMP barrier per tree, which on a busy shared machine is where OpenMP
    loses its time (see the module docstring). scikit-learn's tree traversal releases the GIL.
    """
    n = len(X)
    if threads <= 1 or n < 2 * PARALLEL_MIN_ROWS:
        return model.predict(X)
    parts = min(threads, n // PARALLEL_MIN_ROWS)
    edges = np.linspace(0, n, parts + 1).astype(int)

    def part(k: int) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="openmp"):  # this thread's OpenMP pool
            return model.predict(X.iloc[edges[k] : edges[k + 1]])

    with ThreadPoolExecutor(max_workers=parts) as pool:
        return np.concatenate(list(pool.map(part, range(parts))))


def _usable(X: pd.DataFrame) -> list[str]:
    """Columns with at least one known value (an all-missing column cannot be binned)."""
    return [c for c in X.columns if X[c].notna().any()]


@dataclass(frozen=True)
class ExpectedModel:
    """Log growth ratio over a floored run-rate exposure, calibrated to the training total."""

    model: HistGradientBoostingRegressor
    columns: list[str]
    floor: float  # exposure = max(revenue_t12m, floor); floor = 10th percentile of positive run-rates
    calibration: float

    def exposure(self, run_rate: np.ndarray) -> np.ndarray:
        return np.fmax(np.nan_to_num(run_rate), self.floor)

    def log_ratio(self, X: pd.DataFrame, threads: int = 1) -> np.ndarray:
        return predict_rows(self.model, X[self.columns], threads)

    def from_ratio(self, ratio: np.ndarray, run_rate: np.ndarray) -> np.ndarray:
        return np.clip(np.expm1(ratio + np.log1p(self.exposure(run_rate))) * self.calibration, 0, None)

    def predict(self, X: pd.DataFrame, run_rate: np.ndarray, threads: int = 1) -> np.ndarray:
        return self.from_ratio(self.log_ratio(X, threads), run_rate)


def fit_expected(
    X: pd.DataFrame, y: np.ndarray, run_rate: np.ndarray, cfg: GrowthModelConfig, seed: int
) -> ExpectedModel:
    """Fit the expected-revenue model on features X, labels y (>= 0) and run-rates (see module docstring)."""
    positive = run_rate[run_rate > 0]
    floor = float(np.quantile(positive, 0.1)) if positive.size else 1.0
    exposure = np.fmax(np.nan_to_num(run_rate), floor)
    columns = _usable(X)
    model = HistGradientBoostingRegressor(
        loss="squared_error",
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=_min_leaf(cfg, len(X)),
        early_stopping=True,
        categorical_features="from_dtype",
        random_state=seed,
    )
    model.fit(X[columns], np.log1p(y) - np.log1p(exposure))
    raw = np.clip(np.expm1(model.predict(X[columns]) + np.log1p(exposure)), 0, None)
    calibration = float(y.sum() / raw.sum()) if raw.sum() > 0 else 1.0
    return ExpectedModel(model=model, columns=columns, floor=floor, calibration=calibration)


@dataclass(frozen=True)
class PotentialModel:
    """High quantile of next-year revenue among buying look-alikes (on log1p revenue)."""

    model: HistGradientBoostingRegressor | None
    columns: list[str]
    fallback: float  # the quantile over all buyers, when no look-alike feature has a value

    def predict(self, frame: pd.DataFrame, threads: int = 1) -> np.ndarray:
        if self.model is None:
            return np.full(len(frame), self.fallback)
        return np.clip(np.expm1(predict_rows(self.model, frame[self.columns], threads)), 0, None)


def fit_potential(frame: pd.DataFrame, y: np.ndarray, cfg: GrowthModelConfig, seed: int) -> PotentialModel:
    """Quantile regression of log1p(next-year revenue) on look-alike features, over buyers (y > 0)."""
    buyers = y > 0
    X = frame.loc[buyers, [c for c in POTENTIAL_FEATURES if c in frame.columns]]
    columns = _usable(X)
    level = float(np.quantile(y[buyers], cfg.potential_quantile)) if buyers.any() else 0.0
    if not columns or buyers.sum() < 2:
        return PotentialModel(model=None, columns=[], fallback=level)
    model = HistGradientBoostingRegressor(
        loss="quantile",
        quantile=cfg.potential_quantile,
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=_min_leaf(cfg, len(X)),
        categorical_features="from_dtype",
        random_state=seed,
    )
    model.fit(X[columns], np.log1p(y[buyers]))
    return PotentialModel(model=model, columns=columns, fallback=level)


def evaluate(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Spearman rank correlation, top-decile capture and aggregate bias of `pred`."""
    pred = np.nan_to_num(np.asarray(pred, dtype="float64"))
    actual = np.asarray(actual, dtype="float64")
    err = pred - actual
    rho = spearmanr(pred, actual).statistic if len(actual) > 1 else np.nan
    total = actual.sum()
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "spearman": float(rho),
        "top_decile_capture": _top_decile_capture(pred, actual),
        "bias": float(pred.sum() / total - 1) if total > 0 else float("nan"),
    }


def _top_decile_capture(pred: np.ndarray, actual: np.ndarray) -> float:
    """Share of actual revenue bought by the top 10 % of accounts ranked by `pred` (ties: input order)."""
    total = actual.sum()
    if total <= 0:
        return float("nan")
    n_top = max(1, int(np.ceil(0.1 * len(actual))))
    top = np.argsort(-pred, kind="stable")[:n_top]
    return float(actual[top].sum() / total)


def _reason_codes(
    model: ExpectedModel, X: pd.DataFrame, run_rate: np.ndarray, threads: int = 1
) -> np.ndarray:
    """Up to three features that most raised (+) or lowered (-) each account's expected revenue.

    Method (one-at-a-time median substitution): for each feature, predict the whole portfolio again with
    that feature set to the portfolio's median (most common industry) and express the change in currency
    at the account's own run-rate. The account's run-rate is the starting point, so the codes say what
    moves the account above or below it relative to a typical account, not that big accounts are big.
    The method ignores interactions and splits credit poorly between correlated features: a readable
    pointer, not an attribution with guarantees (SHAP would be). Changes below 1 % of the account's
    expected revenue (or below 1 currency unit) are not reported.

    The substituted predictions are computed by `_TreeEnsemble.substituted_ratios`, which re-evaluates
    only the trees and rows the substitution can change, on `threads` threads; the results are the same
    floats a whole-portfolio prediction per feature gives (tests/unit/test_growth_scale.py checks it).
    """
    n, cols = len(X), [c for c in X.columns if c in model.columns]
    if n == 0:
        return np.empty(0, dtype=object)
    try:  # private scikit-learn attributes: a version that renamed them fails here, said plainly
        ensemble = _TreeEnsemble(model.model, model.columns)
    except (AttributeError, TypeError) as exc:
        raise RuntimeError(INTERNALS_CHANGED) from exc
    refs: dict[str, object] = {}
    # each account's words per feature, as positions in `vocabulary`: strings only for the three picked
    # (a string per account and feature took ~1.4 GiB at 500,000 accounts)
    vocabulary: list[str] = []
    words = np.empty((n, len(cols)), dtype=np.int32)
    for j, col in enumerate(cols):
        values = X[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            mode = values.mode()
            refs[col] = mode.iloc[0] if len(mode) else np.nan
            names = [f"industry {c}" for c in values.cat.categories] + ["industry unknown"]
            codes = values.cat.codes.to_numpy()
            words[:, j] = len(vocabulary) + np.where(codes < 0, len(names) - 1, codes)
            vocabulary += names
        else:
            refs[col] = values.median()
            v = values.to_numpy(dtype="float64")
            words[:, j] = len(vocabulary) + np.where(np.isnan(v), 2, np.where(v > refs[col], 0, 1))
            vocabulary += list(REASON_WORDS[col])  # (high, low, missing)
    try:
        ratio, swapped = ensemble.substituted_ratios(X[model.columns], refs, threads)
    except (AttributeError, TypeError) as exc:
        raise RuntimeError(INTERNALS_CHANGED) from exc
    expected = model.from_ratio(ratio, run_rate)
    contrib = np.zeros((n, len(cols)))
    for j, col in enumerate(cols):
        contrib[:, j] = expected - model.from_ratio(np.ascontiguousarray(swapped[col]), run_rate)

    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :3]
    picked = np.take_along_axis(contrib, order, axis=1)
    picked_words = np.asarray(vocabulary, dtype=object)[np.take_along_axis(words, order, axis=1)]
    # the threshold is the same for an account's three picks, so a dropped pick is never followed by a kept one
    keep = np.abs(picked) >= np.maximum(0.01 * expected, 1.0)[:, None]
    parts = [
        pd.Series(np.where(keep[:, k], picked_words[:, k] + np.where(picked[:, k] > 0, " (+)", " (-)"), ""))
        for k in range(order.shape[1])
    ]
    if not parts:
        return np.full(n, NO_REASON, dtype=object)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.where(part == "", joined + "; " + part)
    return joined.where(joined != "", NO_REASON).to_numpy(dtype="object")


SUBSTITUTION_CHUNK_ROWS = 16_384  # rows per work unit of the reason codes (one tree's outputs stay in cache)
CHECK_ROWS = 1_000  # rows the tree-by-tree evaluation is checked on against scikit-learn's own predict


INTERNALS_CHANGED = (
    "reason codes: tree-by-tree evaluation does not match HistGradientBoostingRegressor.predict: this "
    "scikit-learn version changed the internals ml.growth._TreeEnsemble reads; install the version in "
    "uv.lock (`uv sync --frozen`) or update _TreeEnsemble"
)


class _TreeEnsemble:
    """A fitted HistGradientBoostingRegressor evaluated tree by tree, for median substitution.

    Why: the reason codes need, per feature, the prediction with that feature set to one reference
    value m; a whole-portfolio prediction per feature evaluates every tree on every row (19 × 200 trees
    × the book). Setting feature j to m changes a tree's output for a row only if the row's path
    through the tree passes a split on j that sends m the other way: every other split on the path sees
    the same values, so the row reaches the same leaf. A leaf's path is fixed, so per tree and leaf the
    columns whose substitution diverges on its path are known from the tree alone
    (`_diverging_leaves`). The trees are evaluated one by one on a chunk of rows (scikit-learn's own
    predict); each row's output is the value of the leaf it reached, which names that leaf (leaves
    sharing a value share their columns, so a pair is re-evaluated too often, never missed); only the
    (column, row) pairs the leaf marks are re-evaluated with the column set to m, all of a tree's in
    one call. Every substituted sum is added up in scikit-learn's order (baseline, then tree 1, 2, ...),
    so the floats equal those of `model.predict` on the swapped frame.

    Uses scikit-learn internals (the fitted predictors and their node arrays, the preprocessor, the
    baseline); they are pinned by uv.lock, and every call checks its unsubstituted prediction against
    the public `predict` on the first rows, so a change in them fails loudly instead of giving
    different reason codes.
    """

    def __init__(self, hgb: HistGradientBoostingRegressor, columns: list[str]) -> None:
        if hgb.n_trees_per_iteration_ != 1:
            raise ValueError("median substitution expects one tree per boosting iteration (a regressor)")
        self.hgb, self.columns = hgb, list(columns)
        self.trees = [stage[0] for stage in hgb._predictors]
        self.baseline = float(np.asarray(hgb._baseline_prediction).ravel()[0])
        self.known_bitsets, self.f_idx_map = hgb._bin_mapper.make_known_categories_bitsets()
        self.nodes = [_TreeNodes.of(tree) for tree in self.trees]
        categorical = hgb.is_categorical_
        # the preprocessor puts categorical columns first, the others after them, each in input order
        order = (
            np.arange(len(self.columns))
            if categorical is None
            else np.concatenate([np.flatnonzero(categorical), np.flatnonzero(~categorical)])
        )
        self.position = {self.columns[i]: p for p, i in enumerate(order)}

    def preprocess(self, X: pd.DataFrame) -> np.ndarray:
        return np.ascontiguousarray(self.hgb._preprocess_X(X[self.columns], reset=False), dtype=np.float64)

    def _tree(self, t: int, Xp: np.ndarray) -> np.ndarray:
        return self.trees[t].predict(Xp, self.known_bitsets, self.f_idx_map, 1)

    def _diverging_leaves(self, t: int, ref_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tree t's distinct leaf values (sorted) and a (columns, values) mask: the columns whose
        substitution by the reference row's value can move a row that ends there. The path to a leaf
        is fixed, so a row reaching it passes exactly the splits on that path, and substituting column
        j changes its leaf only if one of those splits is on j and sends the reference value the other
        way. Leaves that share a value share the union of their columns (more re-evaluation, never a
        missed one)."""
        nodes = self.nodes[t]
        width = len(ref_row)
        by_node = np.zeros((len(nodes.value), width), dtype=bool)
        internal = np.flatnonzero(~nodes.is_leaf)
        m_left = np.zeros(len(nodes.value), dtype=bool)  # where the reference row goes at each split
        m_left[internal] = nodes.goes_left(
            internal, ref_row[nodes.feature[internal]], self.known_bitsets, self.f_idx_map
        )
        stack = [0]  # the root; a tree has at most max_leaf_nodes leaves, so this loop is short
        while stack:
            i = stack.pop()
            if nodes.is_leaf[i]:
                continue
            left, right = int(nodes.left[i]), int(nodes.right[i])
            by_node[left] = by_node[i]
            by_node[right] = by_node[i]
            by_node[right if m_left[i] else left, nodes.feature[i]] = True  # rows that go the other way
            stack += [left, right]
        leaves = np.flatnonzero(nodes.is_leaf)
        values, which = np.unique(nodes.value[leaves], return_inverse=True)
        per_value = np.zeros((width, len(values)), dtype=bool)
        np.logical_or.at(per_value.T, which, by_node[leaves])
        return values, per_value

    def substituted_ratios(
        self, X: pd.DataFrame, refs: dict[str, object], threads: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The prediction, and per column in `refs` the prediction with that column set to its value."""
        Xp = self.preprocess(X)
        reference = X[self.columns].iloc[:1].copy()
        for col, ref in refs.items():
            values = X[col]
            if isinstance(values.dtype, pd.CategoricalDtype):
                reference[col] = pd.Categorical([ref], categories=values.cat.categories)
            else:
                reference[col] = ref
        ref_row = self.preprocess(reference)[0]
        positions = np.array([self.position[col] for col in refs], dtype=np.intp)
        leaves = [self._diverging_leaves(t, ref_row) for t in range(len(self.trees))]
        leaves = [(values, diverging[positions]) for values, diverging in leaves]
        n = len(Xp)
        size = max(1, min(SUBSTITUTION_CHUNK_ROWS, -(-n // max(1, threads))))
        bounds = [(lo, min(n, lo + size)) for lo in range(0, n, size)]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            parts = list(pool.map(lambda b: self._chunk(Xp[b[0] : b[1]], leaves, positions, ref_row), bounds))
        ratio = np.concatenate([p[0] for p in parts])
        swapped = {col: np.concatenate([p[1][j] for p in parts]) for j, col in enumerate(refs)}
        check = min(n, CHECK_ROWS)
        if not np.array_equal(ratio[:check], self.hgb.predict(X[self.columns].iloc[:check])):
            raise RuntimeError(INTERNALS_CHANGED)
        return ratio, swapped

    def _chunk(
        self,
        Xp: np.ndarray,
        leaves: list[tuple[np.ndarray, np.ndarray]],
        positions: np.ndarray,
        ref_row: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tree by tree (scikit-learn's order): add the tree's output to the prediction and to every
        substituted sum (one row per column of `positions`), except where the row's leaf says the
        substitution diverges: those (column, row) pairs are re-evaluated with the column set to the
        reference value, all of a tree's in one call, and added instead."""
        ratio = np.full(len(Xp), self.baseline)
        swapped = np.full((len(positions), len(Xp)), self.baseline)
        for t, (leaf_values, diverging) in enumerate(leaves):
            output = self._tree(t, Xp)
            leaf = np.minimum(np.searchsorted(leaf_values, output), len(leaf_values) - 1)
            if not np.array_equal(leaf_values[leaf], output):  # every output is one of the tree's leaves
                raise RuntimeError(INTERNALS_CHANGED)
            pairs = np.flatnonzero(diverging[:, leaf])  # (column, row) pairs, flat: faster than 2-D nonzero
            j, rows = np.divmod(pairs, len(Xp))
            if rows.size:
                Xs = Xp[rows]
                Xs[np.arange(rows.size), positions[j]] = ref_row[positions[j]]
                before = swapped[j, rows]
            ratio += output
            swapped += output
            if rows.size:
                swapped[j, rows] = before + self._tree(t, Xs)
        return ratio, swapped


@dataclass(frozen=True)
class _TreeNodes:
    """One fitted tree's node arrays (scikit-learn's node_struct fields), to follow the reference row
    through its splits (`_TreeEnsemble._diverging_leaves`)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    missing_left: np.ndarray
    is_categorical: np.ndarray
    bitset: np.ndarray
    value: np.ndarray
    left_categories: np.ndarray  # the tree's raw_left_cat_bitsets: (categorical splits, 8) uint32 words

    @classmethod
    def of(cls, tree) -> _TreeNodes:
        nodes = tree.nodes
        return cls(
            feature=nodes["feature_idx"].astype(np.intp),
            threshold=nodes["num_threshold"],
            left=nodes["left"].astype(np.intp),
            right=nodes["right"].astype(np.intp),
            is_leaf=nodes["is_leaf"].astype(bool),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            is_categorical=nodes["is_categorical"].astype(bool),
            bitset=nodes["bitset_idx"].astype(np.intp),
            value=nodes["value"],
            left_categories=np.asarray(tree.raw_left_cat_bitsets),
        )

    def goes_left(
        self, node: np.ndarray, x: np.ndarray, known: np.ndarray, f_idx_map: np.ndarray
    ) -> np.ndarray:
        """Whether value x at split `node` goes left, as scikit-learn's raw-data predictor decides:
        missing takes the split's missing direction; a category goes left when it is in the split's
        left bitset, right when it is otherwise a known category, and a negative or unknown category is
        treated as missing; a number goes left when x <= threshold."""
        missing = np.isnan(x)
        left = np.where(missing, self.missing_left[node], x <= self.threshold[node])
        cat = self.is_categorical[node] & ~missing
        if cat.any():
            where = np.flatnonzero(cat)
            code = x[where]
            negative = code < 0
            c = np.where(negative, 0, code).astype(np.int64) & 0xFF  # scikit-learn casts to uint8
            word, bit = c >> 5, (c & 31).astype(np.uint32)
            in_left = (self.left_categories[self.bitset[node[where]], word] >> bit) & 1
            known_row = np.asarray(f_idx_map)[self.feature[node[where]]]
            is_known = (known[known_row, word] >> bit) & 1
            missing_way = self.missing_left[node[where]]
            left[where] = np.where(negative | ((in_left == 0) & (is_known == 0)), missing_way, in_left == 1)
        return left
