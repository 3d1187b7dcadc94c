"""Do failing, untested intents rise to the top of ``gaps(by="risk")``? Baseline: by traffic.

CLINC150 traffic as in ``bench_coverage`` (20% of the intents have no eval prompt, 5% of the
traffic out-of-scope). Each query fails (``error=True``) with a planted probability set per
intent: ``N_FAILING`` held-out intents and ``N_FAILING`` covered intents at 30-40%, every other
intent (and out-of-scope) at 3-5%.

Clusters are mapped to intents by majority (the intent with the most traffic in the cluster).
Metrics per seed:

- **precision@k, risk**: share of the top k ``gaps(by="risk")`` (topic rows, each read by
  the untested cluster it shows, the one failing most beyond the usual rate) whose majority
  intent is a held-out failing intent, k = the
  number of clusters whose majority intent is one (so 1.0 means those clusters fill the top
  exactly). **precision@k, traffic** is the same on ``gaps(by="traffic")``, the volume
  ranking, in the same run. ``_clusters``: the same on ``gaps(level="cluster")``, one row per
  uncovered cluster. ``_topics``: topics mapped to intents by the majority of their
  untested traffic (what a gap row stands for) and k = the number of topics whose untested
  traffic is mostly a failing held-out intent (``k_topics``), so a failing intent whose
  clusters form one topic counts once.
- **covered failing found**: share of the covered failing intents that are the majority
  intent of at least one cluster in ``failing_covered()``; **failing_covered precision**: share
  of its clusters whose majority intent is a covered failing intent; **covered failing in top
  k**: clusters of covered failing intents among the top k risk gaps (should be 0);
  ``_topics``: topic rows whose untested traffic is mostly a covered failing intent among the
  top ``k_topics`` (the issue's k: the failing held-out intents' number of topics).
- **interval coverage**: share of clusters whose planted failure rate (the mean planted
  probability of the cluster's queries, the rate the cluster's traffic truly has) lies in
  ``[failure_rate_low, failure_rate_high]``; reported over all clusters and over the clusters
  of failing intents.

Embeddings come from ``benchmarks/.cache`` (computed once). Usage::

    python benchmarks/bench_risk.py [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from _clinc import (  # noqa: E402
    CLINC_PATH,
    DEFAULT_MODEL,
    OOS,
    cached_embeddings,
    coverage_scenario,
    load_clinc,
    write_page,
)

RESULTS = Path(__file__).resolve().parent / "results" / "risk.md"
N_FAILING = 5
FAILING_RATE = (0.30, 0.40)
BASE_RATE = (0.03, 0.05)


def plant_failures(traffic: pd.DataFrame, held_out: list[str], seed: int) -> dict:
    """Planted failure probability per intent and the drawn ``error`` column."""
    rng = np.random.default_rng(1000 + seed)
    intents = sorted(traffic["intent"].unique())
    covered = [i for i in intents if i not in held_out and i != OOS]
    failing_held = sorted(rng.choice(held_out, size=N_FAILING, replace=False).tolist())
    failing_covered = sorted(rng.choice(covered, size=N_FAILING, replace=False).tolist())
    rate = {i: rng.uniform(*BASE_RATE) for i in intents}
    for i in failing_held + failing_covered:
        rate[i] = rng.uniform(*FAILING_RATE)
    p = traffic["intent"].map(rate).to_numpy()
    error = rng.random(len(traffic)) < p
    return {"p": p, "error": error, "held": failing_held, "covered": failing_covered}


def run_seed(clinc: pd.DataFrame, texts: list[str], vectors: np.ndarray, seed: int) -> dict:
    from evalcov import Precomputed, analyze

    scenario = coverage_scenario(clinc, seed)
    traffic = scenario.traffic
    planted = plant_failures(traffic, scenario.held_out, seed)
    frame = pd.DataFrame({"text": traffic["text"], "error": planted["error"]})
    t0 = time.perf_counter()
    report = analyze(
        frame,
        scenario.evals[["text"]],
        text="text",
        embedder=Precomputed(texts, vectors, name=DEFAULT_MODEL),
        random_state=seed,
    )
    risk_gaps = report.gaps(n=None, by="risk")
    # The plain mass of untested failures, without subtracting the usual rate.
    mass_gaps = risk_gaps.sort_values(["untested_failures", "cluster"], ascending=[False, True])
    traffic_gaps = report.gaps(n=None, by="traffic")
    cluster_gaps = report.gaps(n=None, level="cluster", by="risk")
    cluster_traffic_gaps = report.gaps(n=None, level="cluster", by="traffic")
    failing = report.failing_covered()
    outcomes = report.outcomes()
    seconds = time.perf_counter() - t0

    q = report.queries.assign(intent=traffic["intent"].to_numpy(), p=planted["p"])
    q = q[~q["excluded"]]
    majority = q.groupby(["cluster", "intent"]).size().reset_index(name="n")
    majority = majority.sort_values(["cluster", "n"], ascending=[True, False])
    intent_of = majority.drop_duplicates("cluster").set_index("cluster")["intent"]
    planted_rate = q.groupby("cluster")["p"].mean()

    held = set(planted["held"])
    target = set(intent_of[intent_of.isin(held)].index)
    k = len(target)
    # The same question one level up: a topic (clusters grouped into one request) is a target
    # when the majority intent of its untested traffic is a failing held-out one, and the
    # ranking is read by topic. A gap row stands for its topic's untested traffic: a held-out
    # intent merged into a topic with a heavier tested sibling is what that row shows.
    by_topic = q[~q["covered"]].groupby(["topic", "intent"]).size().reset_index(name="n")
    by_topic = by_topic.sort_values(["topic", "n"], ascending=[True, False])
    intent_of_topic = by_topic.drop_duplicates("topic").set_index("topic")["intent"]
    target_topics = set(intent_of_topic[intent_of_topic.isin(held)].index)
    k_topics = len(target_topics)

    def topic_precision(gaps: pd.DataFrame) -> float:
        top = gaps["topic"].head(k_topics)
        return float(top.isin(target_topics).mean()) if k_topics else float("nan")

    def precision(gaps: pd.DataFrame, k: int = k) -> float:
        top = gaps["cluster"].head(k)
        return float(top.isin(target).mean()) if k else float("nan")

    # Target clusters the coverage verdict calls covered cannot be gaps: a coverage error,
    # not a ranking one. precision@k_gaps ranks only the targets that are gaps.
    k_gaps = int(risk_gaps["cluster"].isin(target).sum())
    missed = risk_gaps["cluster"].head(k)
    intruders = risk_gaps[~missed.isin(target).reindex(risk_gaps.index, fill_value=True)]
    missed_detail = "; ".join(
        f"{intent_of[r.cluster]} {r.n_queries}q {r.failure_rate:.0%}"
        for r in intruders.head(k).itertuples()
    )
    covered_targets = sorted(target - set(risk_gaps["cluster"]))
    ranked = risk_gaps.reset_index(drop=True)
    late = ranked.iloc[k:][ranked["cluster"].iloc[k:].isin(target)]
    late_detail = "; ".join(
        f"{intent_of[r.cluster]} {r.n_queries}q {r.failure_rate:.0%} rank {i + 1}"
        for i, r in zip(late.index, late.itertuples(), strict=True)
    )

    covered_failing = set(planted["covered"])
    found = set(intent_of.loc[failing["cluster"]]) & covered_failing
    fc_precision = (
        float(intent_of.loc[failing["cluster"]].isin(covered_failing).mean())
        if len(failing)
        else float("nan")
    )
    in_top = int(intent_of.loc[risk_gaps["cluster"].head(k)].isin(covered_failing).sum())
    top_topics = risk_gaps["topic"].head(k_topics)
    in_top_topics = int(intent_of_topic.loc[top_topics].isin(covered_failing).sum())
    o = outcomes.set_index("cluster")
    truth = planted_rate.loc[o.index]
    inside = (o["failure_rate_low"] <= truth) & (truth <= o["failure_rate_high"])
    failing_clusters = intent_of.loc[o.index].isin(held | covered_failing)
    return {
        "seed": seed,
        "k": k,
        "precision_risk": precision(risk_gaps),
        "precision_mass": precision(mass_gaps),
        "precision_traffic": precision(traffic_gaps),
        "precision_risk_clusters": precision(cluster_gaps),
        "precision_traffic_clusters": precision(cluster_traffic_gaps),
        "k_topics": k_topics,
        "precision_risk_topics": topic_precision(risk_gaps),
        "precision_traffic_topics": topic_precision(traffic_gaps),
        "k_gaps": k_gaps,
        "precision_risk_gaps": precision(risk_gaps, k_gaps),
        "precision_traffic_gaps": precision(traffic_gaps, k_gaps),
        "covered_failing_found": len(found) / len(covered_failing),
        "failing_covered_precision": fc_precision,
        "covered_failing_in_top_k": in_top,
        "covered_failing_in_top_k_topics": in_top_topics,
        "interval_coverage": float(inside.mean()),
        "interval_coverage_failing": float(inside[failing_clusters.to_numpy()].mean()),
        "n_clusters": int(len(o)),
        "untested_failures": report.summary()["untested_failures"],
        "seconds": seconds,
        "_intruders": missed_detail,
        "_targets_ranked_low": late_detail,
        "_targets_not_gaps": ", ".join(
            f"{intent_of[c]} {int((q['cluster'] == c).sum())}q" for c in covered_targets
        ),
    }


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args(argv)
    clinc = load_clinc()
    if clinc is None:
        sys.exit(f"CLINC150 not found at {CLINC_PATH}")
    texts, vectors = cached_embeddings(clinc["text"].tolist(), DEFAULT_MODEL)
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(clinc, texts, vectors, seed))
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()})
    table = pd.DataFrame(rows)
    notes = table[["seed", "_intruders", "_targets_ranked_low", "_targets_not_gaps"]]
    table = table.drop(columns=["_intruders", "_targets_ranked_low", "_targets_not_gaps"])
    median = table.drop(columns="seed").median().to_frame("median").T
    lines = [
        "# Risk ranking on CLINC150 (bench_risk.py)",
        "",
        f"Seeds {args.seeds}; {N_FAILING} held-out and {N_FAILING} covered intents fail at "
        f"{FAILING_RATE[0]:.0%}-{FAILING_RATE[1]:.0%}, the rest at "
        f"{BASE_RATE[0]:.0%}-{BASE_RATE[1]:.0%}. Embedder {DEFAULT_MODEL}; seconds exclude "
        "embedding.",
        "",
        _markdown(table),
        "",
        "Medians over the seeds:",
        "",
        _markdown(median),
        "",
        "Non-target clusters in the top k of gaps(by='risk') (majority intent, queries, "
        "failure rate), target clusters ranked below k, and target clusters the coverage "
        "verdict calls covered:",
        "",
        _markdown(notes.rename(columns=lambda c: c.strip("_"))),
        "",
    ]
    write_page(RESULTS, lines)


if __name__ == "__main__":
    main()
