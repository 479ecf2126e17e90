"""Goal setting at scale: 500,000 accounts in 400 territories, each method, against a baseline run in
the same process (one global largest-remainder rounding of the target over all accounts, the least
any exact-cents method must do).

    uv run python benchmarks/bench_goals.py [N_ACCOUNTS]
"""

import sys
import time
from datetime import date

import numpy as np
import pandas as pd

from planning.config import GoalsConfig
from planning.goals import largest_remainder, set_goals


def main(n: int = 500_000) -> None:
    rng = np.random.default_rng(1)
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "territory_id": rng.choice([f"T{i:03d}" for i in range(400)], n),
            "revenue_t12m": rng.gamma(1.2, 9000, n),
            "expected_revenue_next_4q": rng.gamma(1.2, 9500, n),
            "potential": rng.gamma(1.5, 20000, n),
        }
    )
    history = pd.DataFrame(
        {
            "quarter_start": pd.to_datetime(["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]),
            "revenue": [1.0, 1.1, 0.9, 1.3],
        }
    )
    t = time.perf_counter()
    largest_remainder(accounts["revenue_t12m"].to_numpy(), 10**11)
    base = time.perf_counter() - t
    print(f"{n:,} accounts; baseline (one global largest remainder): {base:.3f} s")
    for method, cap in [("bottom_up", None), ("top_down", None), ("blend", None), ("top_down", 0.3)]:
        cfg = GoalsConfig(method=method, max_growth_over_baseline=cap)
        t = time.perf_counter()
        goals = set_goals(accounts, history, cfg, date(2026, 10, 1), 1)
        took = time.perf_counter() - t
        print(
            f"  {method:9s} cap={cap!s:5s} {took:.2f} s = {took / base:.1f}x baseline; "
            f"{len(goals.capped_territories)} territories capped"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500_000)
