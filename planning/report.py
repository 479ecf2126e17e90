"""A self-contained HTML plan report: territory map, balance charts, segment × coverage, headcount, moves.

Everything the page needs is inside the file: the data as embedded JSON and a small script that draws
the map on a canvas (equirectangular projection scaled by the cosine of the mean latitude, territory
outlines as convex hulls) and the charts as inline SVG. No tiles, fonts or scripts from the internet.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

MAX_MAP_POINTS = 60_000  # beyond this the map shows an evenly spaced sample (the count says so)


def _hulls(acc: pd.DataFrame) -> dict[str, list[list[float]]]:
    """Convex hull (lon, lat rings) of each geographic territory's accounts: shows that they do not overlap."""
    from scipy.spatial import ConvexHull, QhullError

    out = {}
    for tid, g in acc.groupby("territory_id", sort=True):
        pts = np.unique(g[["lon", "lat"]].to_numpy(float), axis=0)
        if len(pts) < 3:
            continue
        try:
            ring = pts[ConvexHull(pts).vertices]
        except QhullError:
            continue
        out[str(tid)] = np.round(ring, 4).tolist()
    return out


def _table(df: pd.DataFrame, float_format: str = "{:,.1f}") -> str:
    def cell(v):
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else float_format.format(v)
        if isinstance(v, int | np.integer):
            return f"{int(v):,}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(
    accounts: pd.DataFrame,
    territories: pd.DataFrame,
    reps: pd.DataFrame,
    segments: pd.DataFrame,
    headcount: pd.DataFrame,
    metrics: dict,
    title: str = "covplan plan",
) -> str:
    """The report as one HTML string.

    `accounts`: account_id, territory_id, pool, lat, lon, optional current_territory_id and
    revenue_t12m (per-account rows of a TerritoryDesign). `territories`: the territory table with
    role, accounts, workload_hours, revenue_t12m, balance_deviation, owner_rep_id. `reps`: rep_id,
    role, home_lat, home_lon. `segments`: size_tier, coverage_tier, accounts. `headcount`: the
    coverage summary.
    """
    terr = territories.sort_values(["role", "territory_id"]).reset_index(drop=True)
    index = {t: i for i, t in enumerate(terr["territory_id"])}
    geo = (
        accounts[accounts["lat"].notna() & accounts["lon"].notna()]
        if "lat" in accounts
        else accounts.iloc[:0]
    )
    geo_roles = set(terr.loc[terr["mean_travel_km"].notna(), "role"]) if "mean_travel_km" in terr else set()
    geo = geo[geo["pool"].isin(geo_roles)] if geo_roles else geo.iloc[:0]
    shown = geo.iloc[:: max(1, int(np.ceil(len(geo) / MAX_MAP_POINTS)))]
    points = np.column_stack(
        [
            np.round(shown["lon"].to_numpy(float), 4),
            np.round(shown["lat"].to_numpy(float), 4),
            shown["territory_id"].map(index).to_numpy(),
        ]
    ).tolist()
    owners = terr.dropna(subset=["owner_rep_id"]) if "owner_rep_id" in terr else terr.iloc[:0]
    bases = owners.merge(reps[["rep_id", "home_lat", "home_lon"]], left_on="owner_rep_id", right_on="rep_id")
    bases = bases[bases["home_lat"].notna() & bases["role"].isin(geo_roles)] if len(bases) else bases
    data = {
        "territories": [
            {
                "id": r.territory_id,
                "role": r.role,
                "accounts": int(r.accounts),
                "workload": float(r.workload_hours),
                "value": float(getattr(r, "revenue_t12m", 0.0) or 0.0),
                "deviation": float(r.balance_deviation),
            }
            for r in terr.itertuples()
        ],
        "points": points,
        "pointsTotal": len(geo),
        "bases": [
            {
                "id": str(b.owner_rep_id),
                "t": index[b.territory_id],
                "lon": float(b.home_lon),
                "lat": float(b.home_lat),
            }
            for b in bases.itertuples()
        ],
        "hulls": {str(index[t]): ring for t, ring in _hulls(geo).items()},
        "tolerance": float(metrics.get("balance_tolerance", 0.05)),
    }
    matrix = (
        segments.pivot_table(
            index="size_tier", columns="coverage_tier", values="accounts", aggfunc="sum", fill_value=0
        )
        .reset_index()
        .rename_axis(columns=None)
        if len(segments)
        else pd.DataFrame()
    )
    moved_html = "<p>No current plan to compare with: this is the first design.</p>"
    if "current_territory_id" in accounts and accounts["current_territory_id"].notna().any():
        had = accounts["current_territory_id"].notna()
        moved = accounts[had & (accounts["current_territory_id"] != accounts["territory_id"])]
        flows = (
            moved.groupby(["current_territory_id", "territory_id"])
            .agg(accounts=("account_id", "size"), value=("revenue_t12m", "sum"))
            .reset_index()
            .sort_values(["accounts", "current_territory_id"], ascending=[False, True])
            .head(25)
            .rename(columns={"current_territory_id": "from", "territory_id": "to"})
            if "revenue_t12m" in moved
            else pd.DataFrame()
        )
        moved_html = (
            f"<p>{len(moved):,} of {int(had.sum()):,} accounts moved territory "
            f"({len(moved) / max(int(had.sum()), 1):.1%}); value moved "
            f"{float(moved['revenue_t12m'].sum()) if 'revenue_t12m' in moved else 0:,.0f}.</p>"
            + (("<h3>Largest flows</h3>" + _table(flows, "{:,.0f}")) if len(flows) else "")
        )
    figures = pd.DataFrame(
        [{"figure": k, "value": v if not isinstance(v, float) else round(v, 4)} for k, v in metrics.items()]
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _TEMPLATE.format(
        title=html.escape(title),
        data=payload,
        matrix=_table(matrix, "{:,.0f}") if len(matrix) else "<p>No segments.</p>",
        headcount=_table(headcount, "{:,.2f}") if len(headcount) else "<p>No headcount.</p>",
        moved=moved_html,
        figures=_table(figures, "{:,.4f}"),
    )


def write_report(path: str | Path, **kwargs) -> Path:
    """Write `build_report(**kwargs)` to `path` atomically (a reader never sees half a page)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(build_report(**kwargs), encoding="utf-8")
    os.replace(tmp, path)
    return path


def promote_report(draft: Path, published_dir: Path, plan_id: str, in_force: str | None) -> Path | None:
    """Keep the run's report as `reports/<plan_id>.html` in the published folder and, when its plan is
    the plan in force, as `report.html` too (atomically). Returns the plan's report path, or None when
    the run drafted no report."""
    if not draft.exists():
        return None
    kept = Path(published_dir) / "reports" / f"{plan_id}.html"
    targets = [kept] + ([Path(published_dir) / "report.html"] if plan_id == in_force else [])
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.copyfile(draft, tmp)
        os.replace(tmp, target)
    draft.unlink()
    return kept


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}}
h1{{font-size:22px}} h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;margin:8px 0}} td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f4f4f4}} td:first-child,th:first-child{{text-align:left}}
#map{{border:1px solid #ccc;background:#f8fbff}} .chart{{overflow-x:auto}} .note{{color:#666}}
</style></head><body>
<h1>{title}</h1>
<h2>Territory map</h2>
<p class="note" id="map-note"></p>
<canvas id="map" width="1100" height="620"></canvas>
<h2>Workload balance by territory</h2>
<p class="note">Deviation of each territory's workload hours from its pool's mean; dashed lines: the tolerance.</p>
<div class="chart"><svg id="workload-chart" height="260"></svg></div>
<h2>Value by territory</h2>
<div class="chart"><svg id="value-chart" height="260"></svg></div>
<h2>Segment × coverage tier (accounts)</h2>
{matrix}
<h2>Headcount</h2>
{headcount}
<h2>What moved versus the current plan</h2>
{moved}
<h2>Plan figures</h2>
{figures}
<script id="plan-data" type="application/json">{data}</script>
<script>
(function(){{
const D = JSON.parse(document.getElementById('plan-data').textContent);
const report = window.__report = {{points: 0, bases: 0, hulls: 0, bars: 0}};
const colour = i => `hsl(${{(i * 137.508) % 360}},65%,${{45 + (i % 3) * 8}}%)`;
// map: equirectangular, x scaled by cos(mean latitude)
const cv = document.getElementById('map'), ctx = cv.getContext('2d');
const pts = D.points;
if (pts.length) {{
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, ms = 0;
  for (const p of pts) {{ x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); ms += p[1]; }}
  const k = Math.cos(ms / pts.length * Math.PI / 180), pad = 20;
  const s = Math.min((cv.width - 2 * pad) / Math.max((x1 - x0) * k, 1e-6), (cv.height - 2 * pad) / Math.max(y1 - y0, 1e-6));
  const X = lon => pad + (lon - x0) * k * s, Y = lat => cv.height - pad - (lat - y0) * s;
  for (const [t, ring] of Object.entries(D.hulls)) {{
    ctx.beginPath(); ring.forEach((q, j) => j ? ctx.lineTo(X(q[0]), Y(q[1])) : ctx.moveTo(X(q[0]), Y(q[1])));
    ctx.closePath(); ctx.globalAlpha = 0.12; ctx.fillStyle = colour(+t); ctx.fill();
    ctx.globalAlpha = 0.6; ctx.strokeStyle = colour(+t); ctx.stroke(); report.hulls++;
  }}
  ctx.globalAlpha = 0.85;
  for (const p of pts) {{ ctx.fillStyle = colour(p[2]); ctx.fillRect(X(p[0]) - 1.5, Y(p[1]) - 1.5, 3, 3); report.points++; }}
  ctx.globalAlpha = 1;
  for (const b of D.bases) {{
    const x = X(b.lon), y = Y(b.lat); ctx.beginPath(); ctx.moveTo(x, y - 7); ctx.lineTo(x + 6, y + 5); ctx.lineTo(x - 6, y + 5);
    ctx.closePath(); ctx.fillStyle = colour(b.t); ctx.fill(); ctx.strokeStyle = '#000'; ctx.lineWidth = 1.2; ctx.stroke(); report.bases++;
  }}
}}
document.getElementById('map-note').textContent = pts.length
  ? `${{D.pointsTotal.toLocaleString()}} accounts of the geographic pools` + (pts.length < D.pointsTotal ? ` (every ${{Math.ceil(D.pointsTotal / pts.length)}}th drawn)` : '') + `, coloured by territory; outlines: each territory's hull; triangles: rep home bases (${{D.bases.length}}).`
  : 'No geographic pool in this plan.';
// bar charts as inline SVG
const NS = 'http://www.w3.org/2000/svg';
function el(svg, name, attrs, text) {{ const e = document.createElementNS(NS, name); for (const [a, v] of Object.entries(attrs)) e.setAttribute(a, v); if (text) e.textContent = text; svg.appendChild(e); return e; }}
function bars(id, values, centred, band, fmt) {{
  const svg = document.getElementById(id), H = 260, top = 10, bottom = 30, left = 60;
  const w = Math.max(4, Math.min(24, 1000 / Math.max(values.length, 1)));
  const W = left + values.length * (w + 2) + 10; svg.setAttribute('width', W);
  const lim = Math.max(band || 0, ...values.map(v => Math.abs(v.y))) * 1.1 || 1;
  const lo = centred ? -lim : 0, sy = v => top + (lim - v) / (lim - lo) * (H - top - bottom);
  el(svg, 'line', {{x1: left, x2: W, y1: sy(0), y2: sy(0), stroke: '#444'}});
  if (band) for (const b of [band, -band]) el(svg, 'line', {{x1: left, x2: W, y1: sy(b), y2: sy(b), stroke: '#c00', 'stroke-dasharray': '4 3'}});
  for (const v of [lim, lo]) el(svg, 'text', {{x: left - 4, y: sy(v) + 4, 'text-anchor': 'end', 'font-size': 10}}, fmt(v));
  values.forEach((v, i) => {{
    const x = left + i * (w + 2), y = Math.min(sy(v.y), sy(0)), h = Math.max(Math.abs(sy(v.y) - sy(0)), 0.5);
    const r = el(svg, 'rect', {{x, y, width: w, height: h, fill: colour(i), class: 'bar'}});
    el(r, 'title', {{}}, `${{v.label}}: ${{fmt(v.y)}}`); report.bars++;
  }});
}}
bars('workload-chart', D.territories.map(t => ({{label: t.id, y: t.deviation}})), true, D.tolerance, v => (v * 100).toFixed(1) + '%');
bars('value-chart', D.territories.map(t => ({{label: t.id, y: t.value}})), false, 0, v => Math.round(v).toLocaleString());
}})();
</script>
</body></html>
"""
