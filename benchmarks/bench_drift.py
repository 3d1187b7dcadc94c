"""Benchmark drift detection on CLINC150 with planted arrivals and a covered-mix shift.

Scenario per seed (10 weekly windows, ``_clinc.coverage_scenario`` for the eval set): weeks
0-2 follow a stationary mix of all intents but six held-out ones (plus 5% out-of-scope);
two held-out intents start arriving in week 3, two in week 5, two in week 7, ramping over
1%, 2.5%, 4%, then 5% of the week's traffic each; from week 5 the mix of covered intents
shifts (20 covered intents x2.5, 20 x0.4, covered total unchanged): drift without new
uncovered traffic. The whole log is analyzed once (``report.drift(freq="W")``, baseline week
0), as a team would analyze last quarter's logs.

Metrics: detection delay per arrival (windows from arrival to the first emerging flag on the
cluster holding most of its queries), arrivals flagged no later than the first window where
they exceed 2% of traffic, false emerging flags in stationary weeks (weeks 1-4: flags on
clusters with < 50% arriving traffic in that window), purity of flagged uncovered clusters
(share of their flagged-window traffic from arriving intents), MAE and Spearman correlation
of reported vs true per-window coverage. Baselines on the same clusters: a naive
"share doubled" rule without tests, and an Evidently-style domain classifier (ROC AUC of a
logistic regression telling a window from week 0, drift when AUC > 0.55).

Run: ``python benchmarks/bench_drift.py [--seeds 0 1 2 3 4] [--twitter]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from _clinc import (
    DEFAULT_MODEL,
    OOS,
    SHARED_DATA,
    cached_embeddings,
    coverage_scenario,
    kmeans_vote,
    load_clinc,
)
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import evalcov  # noqa: E402
from evalcov.drift import compute_drift  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "drift.md"
N_WEEKS = 10
PER_WEEK = 1600
ARRIVAL_WEEKS = (3, 3, 5, 5, 7, 7)
RAMP = (0.01, 0.025, 0.04, 0.05)
SHIFT_WEEK = 5
START = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday


def build_log(clinc: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Weekly traffic with planted arrivals and a covered-mix shift; returns traffic, evals,
    the arriving intents (in ARRIVAL_WEEKS order)."""
    sc = coverage_scenario(clinc, seed)
    rng = np.random.default_rng(1000 + seed)
    arriving = list(rng.choice(sc.held_out, size=len(ARRIVAL_WEEKS), replace=False))
    pools = {i: g["text"].to_numpy() for i, g in sc.traffic.groupby("intent")}
    stationary = sorted(i for i in pools if i not in arriving and i != OOS)
    covered = [i for i in stationary if i not in sc.held_out]
    up, down = np.split(rng.choice(covered, size=40, replace=False), 2)
    base_mix = pd.Series(0.95 / len(stationary), index=stationary)
    base_mix[OOS] = 0.05
    shifted = base_mix.copy()
    shifted[up] *= 2.5
    shifted[down] *= 0.4
    # Covered intents keep their total share: the shift adds no uncovered traffic.
    shifted[covered] *= base_mix[covered].sum() / shifted[covered].sum()
    rows = []
    for week in range(N_WEEKS):
        mix = shifted if week >= SHIFT_WEEK else base_mix
        arrival_share = {
            intent: RAMP[min(week - a, len(RAMP) - 1)]
            for intent, a in zip(arriving, ARRIVAL_WEEKS, strict=True)
            if week >= a
        }
        n_arr = {i: round(s * PER_WEEK) for i, s in arrival_share.items()}
        counts = rng.multinomial(PER_WEEK - sum(n_arr.values()), mix.to_numpy())
        for intent, n in [*zip(mix.index, counts, strict=True), *n_arr.items()]:
            texts = rng.choice(pools[intent], size=n, replace=True)
            offsets = pd.to_timedelta(rng.uniform(0, 7, n), unit="D")
            for text, off in zip(texts, offsets, strict=True):
                rows.append((text, START + pd.Timedelta(days=7 * week) + off, intent, week))
    traffic = pd.DataFrame(rows, columns=["text", "timestamp", "intent", "week"])
    traffic["uncovered"] = traffic["intent"].isin(sc.held_out) | (traffic["intent"] == OOS)
    traffic = traffic.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return traffic, sc.evals, arriving


def naive_flags(share: np.ndarray, base: np.ndarray, min_increase: float) -> np.ndarray:
    """'Share doubled' without any test: share >= 2x baseline (and above it by min_increase)."""
    return (share >= 2 * base) & (share - base >= min_increase) & (share > 0)


def domain_auc(X0: np.ndarray, X1: np.ndarray, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    X = np.vstack([X0, X1])
    y = np.r_[np.zeros(len(X0)), np.ones(len(X1))]
    proba = cross_val_predict(
        LogisticRegression(max_iter=300, C=1.0),
        X,
        y,
        cv=3,
        method="predict_proba",
    )[:, 1]
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, proba))


def evaluate(flags: np.ndarray, week_intent: pd.DataFrame, arriving: list[str]) -> dict:
    """Score a (window, cluster) flag matrix against the planted arrivals.

    week_intent: rows week, cluster, intent, n (query counts).
    """
    by = week_intent.groupby(["week", "cluster"])
    total = by["n"].sum()
    arr = week_intent[week_intent["intent"].isin(arriving)].groupby(["week", "cluster"])["n"].sum()
    arr_share = (arr / total).reindex(total.index).fillna(0.0)
    delays, on_time, on_time_any = [], [], []
    for intent, a in zip(arriving, ARRIVAL_WEEKS, strict=True):
        own = week_intent[week_intent["intent"] == intent]
        home = own.groupby("cluster")["n"].sum().idxmax()
        hit = [w for w in range(a, N_WEEKS) if flags[w, home]]
        exceeds = a + next(j for j, s in enumerate(RAMP) if s > 0.02)
        delays.append(hit[0] - a if hit else np.inf)
        on_time.append(bool(hit) and hit[0] <= exceeds)
        # Looser: any flagged cluster whose traffic that week is mostly this intent.
        mine = own.set_index(["week", "cluster"])["n"]
        on_time_any.append(
            any(
                flags[w, c] and mine.get((w, c), 0) >= 0.5 * total.get((w, c), 0)
                for w in range(a, exceeds + 1)
                for c in own.loc[own["week"] == w, "cluster"]
            )
        )
    false_stationary = 0
    flagged_weights, flagged_arr = {}, {}
    for w, c in zip(*np.nonzero(flags), strict=True):
        share_arr = arr_share.get((w, c), 0.0)
        if 1 <= w < SHIFT_WEEK and share_arr < 0.5:
            false_stationary += 1
        n = total.get((w, c), 0)
        flagged_weights[c] = flagged_weights.get(c, 0) + n
        flagged_arr[c] = flagged_arr.get(c, 0) + share_arr * n
    purity = [flagged_arr[c] / flagged_weights[c] for c in flagged_weights if flagged_weights[c]]
    return {
        "delays": delays,
        "on_time": on_time,
        "on_time_any": on_time_any,
        "false_stationary": false_stationary,
        "purity_all": purity,
        "flagged_clusters": len(flagged_weights),
    }


def run_seed(clinc: pd.DataFrame, texts: list[str], vectors: np.ndarray, seed: int) -> dict:
    traffic, evals, arriving = build_log(clinc, seed)
    embedder = evalcov.Precomputed(texts, vectors, name=DEFAULT_MODEL)
    t0 = time.perf_counter()
    report = evalcov.analyze(
        traffic[["text", "timestamp"]],
        evals["text"].tolist(),
        text="text",
        time="timestamp",
        embedder=embedder,
        cache=False,
        show_progress=False,
    )
    t_analyze = time.perf_counter() - t0
    t0 = time.perf_counter()
    d = report.drift(freq="W")
    t_drift = time.perf_counter() - t0
    q = report.queries.assign(intent=traffic["intent"], week=traffic["week"], n=1)
    week_intent = q.groupby(["week", "cluster", "intent"], as_index=False)["n"].sum()

    n_clusters = len(report.clusters)
    ours = d.clusters["emerging"].to_numpy().reshape(N_WEEKS, n_clusters)
    uncovered_status = (report.clusters["status"] == "uncovered").to_numpy()
    res = {"evalcov": evaluate(ours, week_intent, arriving)}
    # Ablation: the per-cluster tests alone (a source without embeddings has no groups).
    alone = compute_drift(
        SimpleNamespace(queries=report.queries, clusters=report.clusters), freq="W"
    )
    res["evalcov, cluster tests only (no groups)"] = evaluate(
        alone.clusters["emerging"].to_numpy().reshape(N_WEEKS, n_clusters), week_intent, arriving
    )
    res["evalcov (uncovered flags)"] = evaluate(
        ours & uncovered_status[None, :], week_intent, arriving
    )
    share = d.clusters["share"].to_numpy().reshape(N_WEEKS, n_clusters)
    base = share[0]
    for name, inc in (("naive 2x share", 0.0), ("naive 2x share and +1 pt", 0.01)):
        flags = naive_flags(share, base, inc)
        flags[0] = False
        res[name] = evaluate(flags, week_intent, arriving)

    true_cov = 1.0 - traffic.groupby("week")["uncovered"].mean().to_numpy()
    reported = d.windows["coverage"].to_numpy()
    w = d.windows
    codes = report.traffic_dedup_.codes
    # The lead recorded by bench_coverage (not shipped): its per-window coverage on this log.
    voted = kmeans_vote(report, seed)[codes]
    lead = pd.Series(voted).groupby(traffic["week"].to_numpy()).mean().to_numpy()
    # Domain classifier per window vs week 0 (Evidently's default: drift when AUC > 0.55).
    X = report.traffic_embeddings_[codes]
    X0 = X[(traffic["week"] == 0).to_numpy()]
    aucs = [domain_auc(X0, X[(traffic["week"] == k).to_numpy()], seed) for k in range(1, N_WEEKS)]
    return {
        "seed": seed,
        "flags": res,
        "coverage_mae": float(np.mean(np.abs(reported - true_cov))),
        "lead_mae": float(np.mean(np.abs(lead - true_cov))),
        "coverage_spearman": float(stats.spearmanr(reported, true_cov).statistic),
        "true_cov": true_cov,
        "reported_cov": reported,
        "drifted": w["drifted"].to_numpy()[1:],
        "p_values": w["p_value"].to_numpy()[1:],
        "uncovered_change": w["uncovered_change"].to_numpy()[1:],
        "auc": np.array(aucs),
        "n_clusters": n_clusters,
        "t_analyze": t_analyze,
        "t_drift": t_drift,
        "emerging_covered_after_shift": int(
            (
                d.emerging["covered"]
                & (d.emerging["first_window"] >= START + pd.Timedelta(weeks=5))
            ).sum()
        ),
    }


def _fmt_delays(delays: list[float]) -> str:
    d = np.array(delays, dtype=float)
    missed = int(np.isinf(d).sum())
    finite = d[np.isfinite(d)]
    med = f"{np.median(finite):.0f}" if len(finite) else "–"
    mx = f"{finite.max():.0f}" if len(finite) else "–"
    return f"{med} / {mx}" + (f" ({missed} missed)" if missed else "")


def report_tables(results: list[dict]) -> str:
    seeds = [r["seed"] for r in results]
    methods = list(results[0]["flags"])
    lines = [
        "# Drift benchmark",
        "",
        f"## CLINC150 planted arrivals (seeds {seeds}; {N_WEEKS} weekly windows of "
        f"{PER_WEEK} queries; baseline week 0)",
        "",
        "Arrivals: 6 held-out intents (2 in week 3, 2 in week 5, 2 in week 7), ramping "
        f"{', '.join(f'{s:.1%}' for s in RAMP)} of weekly traffic; covered-intent mix shift "
        "from week 5. Targets: every arrival flagged no later than the first window it "
        "exceeds 2% of traffic; 0 false emerging flags in stationary weeks (1-4); per-window "
        "coverage MAE <= 0.03. Flags of all methods are on evalcov's clusters.",
        "",
        "Delays and the 2% column score the arrival's home cluster (the one holding most of "
        "its queries). The next column is looser: the arrival is caught by its 2% window in "
        "any flagged cluster where it is at least half that week's traffic (arrivals the map "
        "split or merged into a covered cluster).",
        "",
        "| method | delay median / max (windows) | arrivals flagged by the 2% window | "
        "caught by the 2% window, any cluster | "
        "false flags, stationary weeks (all seeds) | flagged clusters per seed | "
        "purity (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        delays = [d for r in results for d in r["flags"][m]["delays"]]
        on_time = [x for r in results for x in r["flags"][m]["on_time"]]
        anywhere = [x for r in results for x in r["flags"][m]["on_time_any"]]
        false = sum(r["flags"][m]["false_stationary"] for r in results)
        flagged = np.median([r["flags"][m]["flagged_clusters"] for r in results])
        purity = [p for r in results for p in r["flags"][m]["purity_all"]]
        lines.append(
            f"| {m} | {_fmt_delays(delays)} | {sum(on_time)}/{len(on_time)} | "
            f"{sum(anywhere)}/{len(anywhere)} | {false} | "
            f"{flagged:.0f} | {np.median(purity) if purity else float('nan'):.2f} |"
        )
    mae = [r["coverage_mae"] for r in results]
    rho = [r["coverage_spearman"] for r in results]
    drifted = np.array([r["drifted"] for r in results])
    auc = np.array([r["auc"] for r in results])
    pv = np.array([r["p_values"] for r in results])
    unc = np.array([r["uncovered_change"] for r in results])
    lines += [
        "",
        "## Per-window coverage and window-level drift",
        "",
        f"Coverage vs truth per window: MAE median {np.median(mae):.3f} (max {max(mae):.3f}); "
        f"Spearman median {np.median(rho):.2f} (min {min(rho):.2f}). "
        f"The k-means-vote lead recorded in coverage.md (not shipped) on this log: MAE median "
        f"{np.median([r['lead_mae'] for r in results]):.3f} "
        f"(max {max(r['lead_mae'] for r in results):.3f}). "
        f"Covered clusters flagged emerging after the mix shift (drift without new uncovered "
        f"traffic): median {np.median([r['emerging_covered_after_shift'] for r in results]):.0f}"
        " per seed.",
        "",
        "| week | true coverage (mean) | reported (mean) | evalcov drifted (seeds) | "
        "chi2 p (median) | uncovered change (mean) | domain-classifier AUC (median) | "
        "AUC > 0.55 (seeds) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    true = np.array([r["true_cov"] for r in results])
    rep = np.array([r["reported_cov"] for r in results])
    for k in range(N_WEEKS):
        if k == 0:
            lines.append(
                f"| 0 (baseline) | {true[:, 0].mean():.3f} | {rep[:, 0].mean():.3f} | – | – | – "
                "| – | – |"
            )
            continue
        j = k - 1
        lines.append(
            f"| {k} | {true[:, k].mean():.3f} | {rep[:, k].mean():.3f} | "
            f"{int(drifted[:, j].sum())}/{len(results)} | {np.median(pv[:, j]):.2g} | "
            f"{unc[:, j].mean():+.3f} | {np.median(auc[:, j]):.3f} | "
            f"{int((auc[:, j] > 0.55).sum())}/{len(results)} |"
        )
    t_an = np.median([r["t_analyze"] for r in results])
    t_dr = np.median([r["t_drift"] for r in results])
    lines += [
        "",
        f"Time per seed (median): analyze {t_an:.1f} s on ~{N_WEEKS * PER_WEEK} queries, "
        f"drift {t_dr:.2f} s ({np.median([r['n_clusters'] for r in results]):.0f} clusters). "
        "Embeddings: all-MiniLM-L6-v2, cached, not in the times.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- twitter


def twitter(n_show: int = 8) -> str:
    folder = SHARED_DATA / "twitter_cdp"
    files = [folder / f for f in ("train.json", "dev.json", "test.json")]
    files = [f for f in files if f.is_file()]
    if not files:
        return "twitter_cdp is not present; skipped\n"
    rows = []
    for f in files:
        for conv in json.loads(f.read_text()):
            first = next((t for t in conv["dialogContent"] if "client" in t), None)
            if first:
                rows.append((first["message"], first["datetime"], conv["dialogHeader"]["company"]))
    traffic = pd.DataFrame(rows, columns=["text", "timestamp", "company"])
    t = pd.to_datetime(traffic["timestamp"], utc=True)
    evals = traffic.loc[t < pd.Timestamp("2020-02-01", tz="UTC"), "text"].tolist()
    texts, vectors = cached_embeddings(traffic["text"].map(evalcov.normalize_text).tolist())
    embedder = evalcov.Precomputed(texts, vectors, name=DEFAULT_MODEL)
    report = evalcov.analyze(
        traffic,
        evals,
        text="text",
        time="timestamp",
        embedder=embedder,
        cache=False,
        show_progress=False,
    )
    d = report.drift(freq="MS", baseline=("2018-01-01", "2020-02-01"), min_queries=30)
    w = d.windows[d.windows["window"] >= pd.Timestamp("2019-06-01", tz="UTC")]
    lines = [
        "## Twitter customer support (twitter_cdp): what emerges in spring 2020",
        "",
        f"{len(traffic)} first customer tweets from {len(files)} files; eval set = the "
        f"{len(evals)} before 2020-02; monthly windows, baseline = every month before 2020-02 "
        f"pooled; min_queries=30. {len(report.clusters)} clusters.",
        "",
        "| month | queries | coverage | JS divergence | p | drifted | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in w.itertuples():
        lines.append(
            f"| {r.window:%Y-%m} | {r.n_queries} | {r.coverage:.2f} | {r.divergence:.3f} | "
            f"{r.p_value:.2g} | {r.drifted} | {r.note} |"
        )
    lines += [
        "",
        "| cluster | label | first window | baseline share | share now | covered | q |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in d.emerging.sort_values("share_now", ascending=False).head(n_show).itertuples():
        lines.append(
            f"| {r.cluster} | {r.label} | {r.first_window:%Y-%m} | {r.baseline_share:.3f} | "
            f"{r.share_now:.3f} | {r.covered} | {r.q_value:.2g} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--twitter", action="store_true", help="also run the twitter_cdp part")
    args = parser.parse_args()
    clinc = load_clinc()
    if clinc is None:
        sys.exit("../shared/data/clinc150 is not present")
    texts, vectors = cached_embeddings(clinc["text"].tolist(), DEFAULT_MODEL)
    results = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        results.append(run_seed(clinc, texts, vectors, seed))
        print(f"seed {seed} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    out = report_tables(results)
    if args.twitter:
        out += "\n" + twitter()
    print(out)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(out)


if __name__ == "__main__":
    main()
