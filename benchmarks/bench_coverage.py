"""Quality of evalcov's coverage verdicts against ground truth, with baselines from the same run.

CLINC150: for each seed, 20% of the intents have no eval prompt and out-of-scope queries make up
5% of the traffic; a query is truly uncovered when its intent is held out or out-of-scope.
xSID: English prompts are the eval set and every other language is traffic, so every query is
covered and each one flagged uncovered is a false alarm.

All methods share one embedding matrix per model, computed once and cached in
``benchmarks/.cache/``; wall times exclude embedding.

Production-shaped CLINC150 (``--production``, in ``results/coverage_production.md``): the same
eval sets against traffic whose intent volumes follow Zipf's law (exponents 0.8, 1.0, 1.2),
heavy intents repeating their texts, and a variant whose heavy intents also have many more
distinct texts (typos, fillers), next to the uniform scenario in the same run.

Usage::

    python benchmarks/bench_coverage.py [--seeds 0 1 2 3 4] [--skip-xsid] [--only-baselines]
        [--embedder SPEC]
    python benchmarks/bench_coverage.py --production [--seeds 0 1 2 3 4] [--rules]
    python benchmarks/bench_coverage.py --generator 100000 1000000 [--seeds 0 1 2]

``--generator ROWS ...`` runs the synthetic production log of ``_generator.py`` (exact truth at
any size, the issue's "1M-row generator" target) and writes ``results/coverage_generator.md``.

``--rules`` adds, per scenario, ceilings and alternative per-cluster rules on evalcov's own map
(:func:`rule_study`) and writes ``results/coverage_rules.md`` instead.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, precision_recall_fscore_support, roc_auc_score
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from _clinc import (  # noqa: E402
    CLINC_PATH,
    DEFAULT_MODEL,
    MULTILINGUAL_MODEL,
    OOS,
    XSID_DIR,
    CoverageScenario,
    cached_embeddings,
    clinc_embeddings,
    coverage_scenario,
    kmeans_vote,
    load_clinc,
    load_clinc_domains,
    load_xsid,
    narrow_scenario,
    zipf_scenario,
)

RESULTS = Path(__file__).resolve().parent / "results" / "coverage.md"
THRESHOLDS = (0.5, 0.6, 0.7)
NOISE_COS = 0.5
DOMAIN_BASE_RATE_FACTOR = 0.5
PHOENIX_MAX_POINTS = 1000


@dataclass
class Verdict:
    """What one method says about the traffic: per-row uncovered flags and its coverage estimate."""

    uncovered: np.ndarray
    coverage: float
    clusters: np.ndarray | None = None
    report: object | None = None  # evalcov's CoverageReport, for the diagnosis


def _analyze() -> tuple[Callable | None, str | None]:
    try:
        from evalcov import analyze
    except ImportError as error:
        return None, f"{type(error).__name__}: {error}"
    return analyze, None


def _max_cos(traffic: np.ndarray, evals: np.ndarray) -> np.ndarray:
    return (traffic @ evals.T).max(axis=1)


def _verdict_from_flags(uncovered: np.ndarray, clusters: np.ndarray | None = None) -> Verdict:
    return Verdict(uncovered=uncovered, coverage=float(1.0 - uncovered.mean()), clusters=clusters)


def run_evalcov(
    texts: list[str],
    vectors: np.ndarray,
    name: str,
    traffic_text: list[str],
    eval_text: list[str],
    seed: int,
    **options,
) -> Verdict:
    """evalcov.analyze on a precomputed table (``texts`` -> ``vectors`` rows) of one model;
    ``options`` go to :func:`evalcov.analyze`."""
    from evalcov import Precomputed, analyze

    report = analyze(
        pd.DataFrame({"text": traffic_text}),
        pd.DataFrame({"text": eval_text}),
        text="text",
        embedder=Precomputed(texts, vectors, name=name),
        random_state=seed,
        **options,
    )
    queries = report.queries
    if len(queries) != len(traffic_text):
        raise RuntimeError(f"report.queries has {len(queries)} rows for {len(traffic_text)} inputs")
    covered = queries["covered"].fillna(False).astype(bool).to_numpy()
    return Verdict(
        uncovered=~covered,
        coverage=float(report.coverage),
        clusters=queries["cluster"].fillna(-1).to_numpy(),
        report=report,
    )


def diagnose(scenario: CoverageScenario, report) -> dict[str, float]:
    """Where evalcov's F1 is lost on one seed: misjudged traffic rows by cause, and two ceilings.

    - *oracle labels*: each of evalcov's clusters judged by the majority of its true labels,
      the best any cluster-level rule can do on this map;
    - *rule on true intents*: evalcov's own pooling rule (same claims, same shares) on the
      true intents as clusters, each out-of-scope text its own cluster: what a perfect map
      would give.
    """
    from evalcov.coverage import covered_from_claims

    truth = scenario.traffic["uncovered"].to_numpy()
    intent = scenario.traffic["intent"].to_numpy()
    oos = intent == OOS
    held = truth & ~oos
    queries = report.queries
    flagged = ~queries["covered"].fillna(False).astype(bool).to_numpy()
    status = queries["cluster"].map(report.clusters.set_index("cluster")["status"]).to_numpy()
    thin, full = status == "thin", status == "covered"
    rows = {
        "out-of-scope rows in covered clusters": oos & full,
        "held-out rows in covered clusters": held & full,
        "held-out rows claimed in thin clusters": held & thin & ~flagged,
        "covered-intent rows flagged in thin clusters": ~truth & thin & flagged,
        "covered-intent rows in uncovered clusters": ~truth & (status == "uncovered"),
    }
    out = {name: float(mask.mean()) for name, mask in rows.items()}
    clusters = queries["cluster"].to_numpy()
    majority = pd.Series(truth).groupby(clusters).transform("mean").to_numpy() >= 0.5
    out["F1, oracle labels on evalcov's clusters"] = _flags_f1(scenario, majority)
    auc, best = _promptless_ceiling(scenario, report, clusters, truth, flagged)
    out["AUC, claimed share: prompt-less clusters of covered vs uncovered topics"] = auc
    out["F1, best claimed-share cutoff for prompt-less clusters (chosen with the truth)"] = best

    codes = report.traffic_dedup_.codes
    unique_intent = _first_label(codes, intent, len(report.unique_))
    names, labels = np.unique(unique_intent, return_inverse=True)
    scattered = unique_intent == OOS
    labels[scattered] = len(names) + np.arange(scattered.sum())
    eval_codes = report.eval_dedup_.codes
    eval_intent = _first_label(
        eval_codes, scenario.evals["intent"].to_numpy(), len(report.eval_dedup_.texts)
    )
    analyzer = report.analyzer_
    covered, _, _ = covered_from_claims(
        report.unique_["claimed"].to_numpy(),
        labels,
        report.unique_["weight"].to_numpy(),
        np.searchsorted(names, eval_intent),
        analyzer.covered_share,
        analyzer.thin_share,
    )
    out["F1, evalcov's rule on true-intent clusters"] = _flags_f1(scenario, ~covered[codes])
    lead = clinc_metrics(scenario, _verdict_from_flags(~kmeans_vote(report, scenario.seed)[codes]))
    out["F1, lead: rule voted over 7 k-means maps"] = lead["F1"]
    out["intent recall, same lead"] = lead["intent recall"]
    out["coverage error, same lead"] = lead["coverage error"]
    return out


def _promptless_ceiling(
    scenario: CoverageScenario,
    report,
    clusters: np.ndarray,
    truth: np.ndarray,
    flagged: np.ndarray,
) -> tuple[float, float]:
    """How well any threshold on the claimed share could judge the clusters without a prompt.

    These clusters hold both the fragments of covered intents that drew no prompt and the
    held-out topics, and the rule can only tell them apart by how much of them the prompts
    claim. Returns the AUC of the claimed share for "majority covered", and the F1 when those
    clusters are judged by the best cutoff, picked with the truth (other clusters unchanged).
    """
    table = report.clusters
    promptless = table["n_eval"].to_numpy() == 0
    share = np.full(int(clusters.max()) + 1, np.nan)
    share[table["cluster"].to_numpy()[promptless]] = table["claimed_share"].to_numpy()[promptless]
    row_share = share[clusters]
    inside = ~np.isnan(row_share)
    majority = pd.Series(truth[inside]).groupby(clusters[inside]).mean() >= 0.5
    if majority.all() or not majority.any():
        return float("nan"), _flags_f1(scenario, flagged)
    cluster_share = share[majority.index.to_numpy()]
    auc = float(roc_auc_score(~majority.to_numpy(), cluster_share))
    best = 0.0
    for cutoff in np.unique(cluster_share):
        judged = flagged.copy()
        judged[inside] = row_share[inside] < cutoff
        best = max(best, _flags_f1(scenario, judged))
    return auc, best


def _first_label(codes: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Label of the first input row of each deduplicated text (codes: row -> text)."""
    first = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(codes >= 0)[::-1]
    first[codes[rows]] = rows
    return labels[first]


def _flags_f1(scenario: CoverageScenario, flagged: np.ndarray) -> float:
    return clinc_metrics(scenario, _verdict_from_flags(flagged))["F1"]


def run_threshold(traffic: np.ndarray, evals: np.ndarray, threshold: float) -> Verdict:
    return _verdict_from_flags(_max_cos(traffic, evals) < threshold)


def run_phoenix(traffic: np.ndarray, evals: np.ndarray, seed: int) -> Verdict:
    """Arize Phoenix (<= 13.2) embedding-drift clusters, used as a coverage detector.

    Phoenix samples at most 1,000 points per dataset, projects them with UMAP to 3-D, clusters
    the projection with HDBSCAN(min_cluster_size=10, min_samples=1) and ranks clusters by
    (p - r) / (p + r) on raw primary (traffic) / reference (eval) counts. Flagged here: clusters
    scoring 1 (no eval point). HDBSCAN noise is in no cluster, so it is never flagged; a query
    left out of the sample takes the cluster (or noise) of its nearest sampled point.
    """
    import hdbscan
    import umap

    rng = np.random.default_rng(seed)
    t_idx = np.sort(rng.choice(len(traffic), min(PHOENIX_MAX_POINTS, len(traffic)), replace=False))
    e_idx = np.sort(rng.choice(len(evals), min(PHOENIX_MAX_POINTS, len(evals)), replace=False))
    sample = np.vstack([traffic[t_idx], evals[e_idx]])
    is_eval = np.r_[np.zeros(len(t_idx), bool), np.ones(len(e_idx), bool)]
    projection = umap.UMAP(n_components=3, random_state=seed).fit_transform(sample)
    labels = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=1).fit_predict(projection)

    clusters = labels[np.argmax(traffic @ sample.T, axis=1)]
    clusters[t_idx] = labels[: len(t_idx)]
    ids = np.unique(labels[labels >= 0])
    p = np.array([np.sum((labels == c) & ~is_eval) for c in ids])
    r = np.array([np.sum((labels == c) & is_eval) for c in ids])
    flagged = ids[(p - r) / (p + r) == 1.0]
    return _verdict_from_flags(np.isin(clusters, flagged), clusters)


def run_bertopic(traffic: np.ndarray, evals: np.ndarray, seed: int) -> Verdict:
    """BERTopic's default map (UMAP 5-D, cosine, min_dist=0 + HDBSCAN(min_cluster_size=10)).

    Fitted on traffic and evals together. A topic without an eval document is uncovered; a noise
    query is uncovered iff its nearest eval prompt has cosine < ``NOISE_COS``.
    """
    import hdbscan
    import umap

    points = np.vstack([traffic, evals])
    reduced = umap.UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    ).fit_transform(points)
    labels = hdbscan.HDBSCAN(min_cluster_size=10).fit_predict(reduced)
    topics, eval_topics = labels[: len(traffic)], labels[len(traffic) :]
    uncovered = ~np.isin(topics, eval_topics[eval_topics >= 0])
    noise = topics == -1
    uncovered[noise] = _max_cos(traffic[noise], evals) < NOISE_COS
    return _verdict_from_flags(uncovered, topics)


def run_domain_classifier(traffic: np.ndarray, evals: np.ndarray, seed: int) -> Verdict:
    """Evidently-style domain classifier: logistic regression eval-vs-traffic on embeddings.

    P(eval) for each traffic query comes from a model that did not see it (5-fold cross-fitting
    over traffic; every fold trains on all evals). A query is uncovered when its P(eval) is below
    ``DOMAIN_BASE_RATE_FACTOR`` times the base rate n_eval / (n_eval + n_traffic).
    """
    base_rate = len(evals) / (len(evals) + len(traffic))
    p_eval = np.empty(len(traffic))
    for train, test in KFold(5, shuffle=True, random_state=seed).split(traffic):
        X = np.vstack([evals, traffic[train]])
        y = np.r_[np.ones(len(evals)), np.zeros(len(train))]
        model = LogisticRegression(max_iter=2000).fit(X, y)
        p_eval[test] = model.predict_proba(traffic[test])[:, 1]
    return _verdict_from_flags(p_eval < DOMAIN_BASE_RATE_FACTOR * base_rate)


def clinc_metrics(scenario: CoverageScenario, verdict: Verdict) -> dict[str, float]:
    traffic = scenario.traffic
    truth = traffic["uncovered"].to_numpy()
    flagged = verdict.uncovered
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, flagged, average="binary", zero_division=0
    )
    held = traffic["intent"].isin(scenario.held_out).to_numpy()
    share_by_intent = pd.Series(flagged[held]).groupby(traffic["intent"].to_numpy()[held]).mean()
    oos = (traffic["intent"] == OOS).to_numpy()
    metrics = {
        "F1": f1,
        "precision": precision,
        "recall": recall,
        "intent recall": float((share_by_intent >= 0.5).sum() / len(scenario.held_out)),
        "OOS recall": float(flagged[oos].mean()) if oos.any() else float("nan"),
        "coverage error": abs(verdict.coverage - scenario.true_coverage),
    }
    if verdict.clusters is not None:
        # Noise (-1) counts as one more label, as a user would see it.
        metrics["ARI"] = adjusted_rand_score(traffic["intent"][~oos], verdict.clusters[~oos])
    return metrics


def timed(fn: Callable[[], Verdict]) -> tuple[Verdict | None, float, str | None]:
    start = time.perf_counter()
    try:
        verdict = fn()
    except Exception as error:  # the engine under test may fail; report it in the table
        traceback.print_exc()
        return None, time.perf_counter() - start, f"{type(error).__name__}: {error}"
    return verdict, time.perf_counter() - start, None


def _warm_up_numba() -> None:
    """Compile UMAP/HDBSCAN's numba kernels once so the first timed method does not pay for it."""
    import hdbscan
    import umap

    points = np.random.default_rng(0).normal(size=(300, 8))
    hdbscan.HDBSCAN(min_cluster_size=10).fit(umap.UMAP(random_state=0).fit_transform(points))


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    std = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {std:.3f}"


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def bench_clinc(seeds: list[int], evalcov_note: str | None) -> str:
    """CLINC150 table; ``evalcov_note`` says why evalcov is not run (None: run it)."""
    clinc = load_clinc()
    if clinc is None:
        return f"CLINC150 skipped: {CLINC_PATH} is absent.\n"
    start = time.perf_counter()
    texts, vectors = cached_embeddings(clinc["text"].tolist(), DEFAULT_MODEL)
    embed_seconds = time.perf_counter() - start
    row = {text: i for i, text in enumerate(texts)}
    _warm_up_numba()

    methods: dict[str, Callable[[CoverageScenario, np.ndarray, np.ndarray], Verdict]] = {}
    if evalcov_note is None:
        methods["evalcov"] = lambda s, T, E: run_evalcov(
            texts, vectors, DEFAULT_MODEL, s.traffic["text"].tolist(), s.evals["text"].tolist(),
            s.seed,
        )  # fmt: skip
    for t in THRESHOLDS:
        methods[f"nearest-eval cos ≥ {t}"] = lambda s, T, E, t=t: run_threshold(T, E, t)
    methods["Phoenix-style (UMAP-3D+HDBSCAN, sampled)"] = lambda s, T, E: run_phoenix(T, E, s.seed)
    methods["BERTopic-style (UMAP-5D+HDBSCAN)"] = lambda s, T, E: run_bertopic(T, E, s.seed)
    methods["domain classifier (LR)"] = lambda s, T, E: run_domain_classifier(T, E, s.seed)

    results: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    diagnoses: list[dict[str, float]] = []
    errors: dict[str, str] = {}
    for seed in seeds:
        scenario = coverage_scenario(clinc, seed)
        T = vectors[[row[t] for t in scenario.traffic["text"]]]
        E = vectors[[row[t] for t in scenario.evals["text"]]]
        print(
            f"seed {seed}: {len(T)} traffic, {len(E)} evals, "
            f"true coverage {scenario.true_coverage:.3f}",
            flush=True,
        )
        for name, method in methods.items():
            verdict, seconds, error = timed(lambda m=method, s=scenario, T=T, E=E: m(s, T, E))
            if error is not None:
                errors[name] = f"seed {seed}: {error}"
                print(f"  {name}: ERROR {error}", flush=True)
                continue
            metrics = clinc_metrics(scenario, verdict) | {"time (s)": seconds}
            results[name].append(metrics)
            if verdict.report is not None:
                found = diagnose(scenario, verdict.report)
                diagnoses.append({"F1, evalcov": metrics["F1"]} | found)
            print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()), flush=True)

    columns = [
        "F1", "precision", "recall", "intent recall", "OOS recall", "coverage error", "ARI",
        "time (s)",
    ]  # fmt: skip
    table = []
    if evalcov_note is not None:
        table.append({"method": "evalcov", "F1": evalcov_note})
    for name, runs in results.items():
        entry: dict[str, str] = {"method": name}
        for column in columns:
            entry[column] = _mean_std([run[column] for run in runs if column in run])
        if name in errors:
            entry["F1"] = f"error ({errors[name]})"
        table.append(entry)
    frame = pd.DataFrame(table, columns=["method", *columns]).fillna("–")
    return (
        f"## CLINC150 coverage gaps (seeds {seeds}; mean ± std over seeds)\n\n"
        f"Positive class = truly uncovered (held-out intent or out-of-scope). Intent recall: "
        f"held-out intents with ≥ 50% of their queries flagged. Coverage error: "
        f"|estimated − true covered share|. ARI: clusters vs intents on in-scope traffic. "
        f"Embeddings: {DEFAULT_MODEL}, shared by all methods ({embed_seconds:.1f} s to embed or "
        f"load from cache, not in the times).\n"
        f"Targets for evalcov: F1 ≥ 0.85, intent recall ≥ 0.95, coverage error ≤ 0.03.\n\n"
        f"{_markdown(frame)}\n{_diagnosis_section(diagnoses)}"
    )


PRODUCTION_SCENARIOS: dict[str, dict] = {
    "uniform (CLINC as it comes)": {},
    "Zipf 0.8": {"exponent": 0.8},
    "Zipf 1.0": {"exponent": 1.0},
    "Zipf 1.2": {"exponent": 1.2},
    "Zipf 1.0, heavy intents paraphrased": {"exponent": 1.0, "paraphrase": True},
}
RESULTS_PRODUCTION = RESULTS.with_name("coverage_production.md")
RESULTS_RULES = RESULTS.with_name("coverage_rules.md")


def heavy_flagged(scenario: CoverageScenario, flagged: np.ndarray, n: int = 10) -> float:
    """Share of the traffic of the ``n`` heaviest covered intents that is flagged uncovered."""
    traffic = scenario.traffic
    top = traffic.loc[~traffic["uncovered"], "intent"].value_counts().head(n).index
    return float(flagged[traffic["intent"].isin(top).to_numpy()].mean())


def thin_recall(scenario: CoverageScenario, report, factor: float = 5.0) -> float:
    """Share of the traffic of covered intents whose traffic share is at least ``factor`` times
    their share of the eval prompts that the report calls thin (and counts covered)."""
    traffic = scenario.traffic
    traffic_share = traffic["intent"].value_counts(normalize=True)
    eval_share = scenario.evals["intent"].value_counts(normalize=True)
    heavy = [i for i, s in eval_share.items() if traffic_share.get(i, 0.0) >= factor * s]
    rows = traffic["intent"].isin(heavy).to_numpy()
    if not rows.any():
        return float("nan")
    status = report.clusters["status"].to_numpy(dtype=object)[report.queries["cluster"]]
    covered = report.queries["covered"].to_numpy(dtype=bool)
    return float(((status == "thin") & covered)[rows].mean())


def false_gaps_named(scenario: CoverageScenario, report) -> float:
    """Share of the flagged traffic of covered intents (false gaps) whose cluster's
    ``closest_eval`` is one of its own intent's prompts: the false gaps a reader of the gap
    list can tell at a glance for a phrasing of a tested request."""
    intent = scenario.traffic["intent"].to_numpy()
    false_gap = ~report.queries["covered"].to_numpy(dtype=bool) & ~scenario.traffic[
        "uncovered"
    ].to_numpy(dtype=bool)
    if not false_gap.any():
        return float("nan")
    intent_of_prompt = dict(zip(scenario.evals["text"], scenario.evals["intent"], strict=True))
    closest = report.clusters["closest_eval"].map(intent_of_prompt).to_numpy(dtype=object)
    named = closest[report.queries["cluster"].to_numpy()] == intent
    return float(named[false_gap].mean())


def rule_study(scenario: CoverageScenario, report) -> tuple[list[dict[str, float]], dict]:
    """How far any per-cluster rule could take the verdict on evalcov's map, and what the
    rules measured against the shipped one give (``--production --rules``).

    Every rule keeps evalcov's clusters and changes only which ones count as tested:

    - *shipped*: the report's own verdict;
    - *oracle, every cluster*: each cluster judged by the majority of its true labels (the
      ceiling of any cluster-level rule on this map);
    - *oracle, untested clusters only*: the shipped verdict where it says tested, the truth
      where it says untested (the ceiling of any rule that only rescues untested clusters);
    - *topic verdict*: a topic (the report's connectivity-merged clusters) is tested when any
      of its clusters is, and all its clusters follow;
    - *centroid rule*: an untested cluster whose centre is as close to an eval prompt as the
      lower quartile of the tested clusters' centres are is tested (calibrated on the data);
    - *near-duplicate claims*: claims counted in requests, not spellings
      (:func:`near_duplicate_claims`); the shipped presence rule on those claims;
    - *requests per cluster*: the same with groups formed within each cluster, and each
      cluster's claimed share counted in those groups instead of traffic
      (``near_duplicate_claims(..., per_cluster=True)``);
    - *AUC* rows: how well each per-cluster quantity separates the untested clusters that are
      mostly covered traffic (fragments of tested intents) from true gaps, weighted by rows.

    Also returns what :func:`trained_rules` needs to add the truth-trained ceiling once every
    run is done: the clusters' features (:func:`cluster_features`) and truth.
    """
    truth = scenario.traffic["uncovered"].to_numpy()
    clusters = report.queries["cluster"].to_numpy()
    table = report.clusters
    n = len(table)
    tested = table["status"].to_numpy(dtype=object) != "uncovered"
    rows = np.bincount(clusters, minlength=n).astype(float)
    gap_share = np.bincount(clusters, weights=truth.astype(float), minlength=n) / np.maximum(
        rows, 1
    )
    labels = report.unique_["cluster"].to_numpy()
    U = np.asarray(report.traffic_embeddings_, dtype=np.float32)
    E = np.asarray(report.eval_embeddings_, dtype=np.float32)
    centre = np.zeros((n, U.shape[1]))
    np.add.at(centre, labels, U)
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    to_prompt = (centre @ E.T).max(axis=1)
    between = centre @ centre.T
    np.fill_diagonal(between, -1.0)
    to_tested = np.where(tested[None, :], between, -1.0).max(axis=1)
    topic = table["topic"].to_numpy()
    topic_tested = pd.Series(tested).groupby(topic).transform("any").to_numpy()
    rules = {
        "shipped": tested,
        "oracle, every cluster": gap_share < 0.5,
        "oracle, untested clusters only": tested | (gap_share < 0.5),
        "topic verdict": topic_tested,
        "centroid rule": tested | (to_prompt >= np.quantile(to_prompt[tested], 0.25)),
        "near-duplicate claims": near_duplicate_claims(report, U, E),
        "requests per cluster": near_duplicate_claims(report, U, E, per_cluster=True),
    }
    out = []
    for name, judged in rules.items():
        flagged = ~judged[clusters]
        metrics = clinc_metrics(scenario, _verdict_from_flags(flagged))
        metrics.pop("ARI", None)
        metrics["10 heaviest covered intents flagged"] = heavy_flagged(scenario, flagged)
        out.append({"rule": name, **metrics})
    untested = ~tested
    fragment = gap_share[untested] < 0.5
    features = cluster_features(report, U, labels, tested, rows, to_prompt, to_tested)
    if fragment.any() and not fragment.all():
        for name in (
            "claimed share",
            "centre to nearest prompt",
            "centre to nearest tested centre",
        ):
            values = features[name].to_numpy()
            auc = roc_auc_score(fragment, values[untested], sample_weight=rows[untested])
            out.append({"rule": f"AUC, {name}", "F1": auc})
    run = {
        "scenario": scenario,
        "clusters": clusters,
        "tested": tested,
        "features": features,
        "fragment": gap_share < 0.5,
        "rows": rows,
    }
    return out, run


def cluster_features(
    report,
    U: np.ndarray,
    labels: np.ndarray,
    tested: np.ndarray,
    rows: np.ndarray,
    to_prompt: np.ndarray,
    to_tested: np.ndarray,
) -> pd.DataFrame:
    """Per-cluster quantities a rule without the truth could read, one row per cluster.

    Claimed share, prompts in the cluster, its centre's cosine to the nearest prompt and to
    the nearest tested cluster's centre, the median distinct text's cosine to its nearest
    prompt, the share of its kNN edges that reach tested clusters (PAGA connectivity, on at
    most 10,000 texts), and its size in distinct texts and in rows (logs).
    """
    from evalcov.topics import cluster_connectivity

    n = len(tested)
    sample = np.arange(len(U))
    if len(U) > 10_000:
        sample = np.sort(np.random.default_rng(0).choice(len(U), 10_000, replace=False))
    conn = cluster_connectivity(U[sample], labels[sample], n)
    similarity = report.unique_["similarity"].to_numpy(dtype=float)
    median_similarity = pd.Series(similarity).groupby(labels).median()
    return pd.DataFrame(
        {
            "claimed share": report.clusters["claimed_share"].to_numpy(dtype=float),
            "prompts": report.clusters["n_eval"].to_numpy(dtype=float),
            "centre to nearest prompt": to_prompt,
            "centre to nearest tested centre": to_tested,
            "median text to nearest prompt": median_similarity.reindex(range(n)).to_numpy(),
            "connectivity to tested clusters": conn[:, tested].sum(axis=1),
            "log distinct texts": np.log1p(np.bincount(labels, minlength=n)),
            "log rows": np.log1p(rows),
        }
    ).fillna(0.0)


def trained_rules(runs: list[dict]) -> list[dict[str, float]]:
    """What a per-cluster rule on :func:`cluster_features` gets when the truth teaches it.

    For each run, a logistic regression and a gradient-boosted classifier learn which untested
    clusters are fragments of tested intents (most of their rows covered), weighted by rows,
    from the untested clusters of the runs with another seed: of every scenario ("other
    seeds"), or of the run's own scenario only ("same scenario", the most favourable teacher:
    the same traffic shape). The run's own untested clusters predicted at or above 0.5 become
    tested. Not a bound (another learner or cutoff could do better); a rule without the truth
    that reads the same numbers is unlikely to do much better.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    models = {
        "logistic regression": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
        "gradient boosting": lambda: make_pipeline(
            HistGradientBoostingClassifier(max_iter=200, random_state=0)
        ),
    }
    pools = {
        "other seeds": lambda run, r: True,
        "same scenario": lambda run, r: r["name"] == run["name"],
    }
    out = []
    for run in runs:
        own = ~run["tested"]
        for pool, belongs in pools.items():
            others = [
                r for r in runs if r["scenario"].seed != run["scenario"].seed and belongs(run, r)
            ]
            if not others:
                continue
            X = np.vstack([r["features"].to_numpy()[~r["tested"]] for r in others])
            y = np.concatenate([r["fragment"][~r["tested"]] for r in others])
            w = np.concatenate([r["rows"][~r["tested"]] for r in others])
            if y.all() or not y.any():
                continue
            for name, make in models.items():
                model = make()
                model.fit(X, y, **{f"{model.steps[-1][0]}__sample_weight": w})
                judged = run["tested"].copy()
                if own.any():
                    p = model.predict_proba(run["features"].to_numpy()[own])[:, 1]
                    judged[own] = p >= 0.5
                flagged = ~judged[run["clusters"]]
                metrics = clinc_metrics(run["scenario"], _verdict_from_flags(flagged))
                metrics.pop("ARI", None)
                metrics["10 heaviest covered intents flagged"] = heavy_flagged(
                    run["scenario"], flagged
                )
                rule = f"truth-trained {name} ({pool})"
                out.append({"scenario": run["name"], "seed": run["seed"], "rule": rule, **metrics})
    return out


def near_duplicate_units(
    texts: list[str], window: int = 3, ratio: float = 85.0, labels: np.ndarray | None = None
) -> np.ndarray:
    """Group id of each distinct text: near-duplicate spellings of one request share one.

    Texts are compared on their casefolded, punctuation-free forms with ``rapidfuzz``'s
    ``fuzz.ratio`` (Indel similarity, 0-100: typos, casing, a filler word), each against its
    ``window`` neighbours in sorted order of those forms and of the forms reversed (so a word
    added in front or a typo near the start still finds its twin); pairs at ``ratio`` or
    above join, transitively. Linear in texts after the two sorts, and no embedding
    constant: the decision is on characters. With ``labels`` (each text's cluster), texts are
    sorted within their cluster and only texts of one cluster join: groups never cross the
    map's clusters, and each cluster's groups depend on its texts alone.
    """
    from rapidfuzz import fuzz
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    plain = [re.sub(r"[^\w ]+", "", t.casefold()).strip() for t in texts]
    cluster = np.zeros(len(plain), dtype=np.int64) if labels is None else np.asarray(labels)
    pairs = []
    for key in (plain, [t[::-1] for t in plain]):
        order = np.lexsort((np.array(key, dtype=object), cluster))
        for step in range(1, window + 1):
            for a, b in zip(order[:-step], order[step:], strict=True):
                if cluster[a] == cluster[b] and fuzz.ratio(plain[a], plain[b]) >= ratio:
                    pairs.append((a, b))
    i, j = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(plain), len(plain)))
    return connected_components(graph, directed=False)[1]


def near_duplicate_claims(
    report, U: np.ndarray, E: np.ndarray, per_cluster: bool = False
) -> np.ndarray:
    """The shipped presence rule on claims counted in requests instead of spellings.

    Each prompt claims its ``ceil(reach * n_groups / n_eval)`` nearest near-duplicate groups
    (:func:`near_duplicate_units`; a group is as near as its nearest member), and a claimed
    group claims all its members, so a heavy request typed in hundreds of spellings no longer
    uses up its prompts' claims on itself. Returns whether each cluster is tested.

    ``per_cluster`` (*requests per cluster*): groups are formed within each cluster, and a
    cluster's claimed share counts its groups (each weighs one, whatever its traffic or its
    number of spellings) instead of its traffic: presence asks whether the cluster's kinds
    of request are tested, so a request repeated or misspelled a thousand times counts once.
    """
    from evalcov.coverage import covered_from_claims, is_covered

    labels = report.unique_["cluster"].to_numpy()
    groups = near_duplicate_units(
        report.traffic_dedup_.texts, labels=labels if per_cluster else None
    )
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1]])
    to_group = np.maximum.reduceat(E @ U[order].T, starts, axis=1)  # (n_eval, n_groups)
    k = min(max(1, math.ceil(report.analyzer_.reach * len(starts) / len(E))), len(starts))
    radius = -np.partition(-to_group, k - 1, axis=1)[:, k - 1]
    group_claimed = np.zeros(groups.max() + 1, dtype=bool)
    group_claimed[groups[order][starts]] = (to_group >= radius[:, None] - 1e-6).any(axis=0)
    # Per cluster, each group weighs one (its members share it; groups lie within a cluster):
    # the claimed share counts requests. Presence reads only the shares and prompt counts.
    weights = 1.0 / np.bincount(groups)[groups] if per_cluster else report.traffic_dedup_.weights
    analyzer = report.analyzer_
    _, _, status = covered_from_claims(
        group_claimed[groups],
        labels,
        weights,
        report.eval_labels_,
        analyzer.covered_share,
        analyzer.thin_share,
    )
    return is_covered(status)


def _rules_section(studies: list[dict]) -> str:
    frame = pd.DataFrame(studies)
    # The truth-trained rows come last from the run; list each scenario's rows together.
    order = {name: i for i, name in enumerate(frame["scenario"].unique())}
    frame = frame.sort_values("scenario", kind="stable", key=lambda s: s.map(order))
    columns = [c for c in frame.columns if c not in ("scenario", "rule", "seed")]
    table = frame.groupby(["scenario", "rule"], sort=False)[columns].median().round(3)
    return (
        "## Rules on evalcov's map (medians over seeds)\n\n"
        "Each rule keeps evalcov's clusters and decides which are tested "
        "(see `rule_study` in bench_coverage.py). AUC rows give the AUC in the F1 column: "
        "how well a per-cluster quantity separates untested clusters of covered intents "
        "(prompt-less fragments) from true gaps, weighted by rows. The truth-trained rows "
        "read the clusters' numbers (`cluster_features`) with the truth as teacher: "
        "classifiers that learn from other seeds' runs (of every scenario, or of the same "
        "one) which untested clusters are fragments of tested intents (`trained_rules`).\n\n"
        f"{_markdown(table.reset_index().fillna('–'))}\n"
    )


NARROW = "narrow domain, one intent 73%"
# The engine before the reach floor (the rule before 2026-12-02), measured in the same run.
NO_FLOOR = "evalcov, reach_floor=None"


def production_scenarios(clinc: pd.DataFrame, seeds: list[int]):
    """(scenario name, seed label, scenario) for every production-shaped scenario and seed;
    the narrow-domain scenario runs once per CLINC domain and seed."""
    for name, options in PRODUCTION_SCENARIOS.items():
        for seed in seeds:
            if options:
                yield name, str(seed), zipf_scenario(clinc, seed, **options)
            else:
                yield name, str(seed), coverage_scenario(clinc, seed)
    domains = load_clinc_domains()
    if domains is None:
        return
    for seed in seeds:
        for domain, intents in domains.items():
            yield NARROW, f"{seed} {domain}", narrow_scenario(clinc, intents, seed)


def bench_production(seeds: list[int], rules: bool = False) -> str:
    """evalcov and the nearest-prompt thresholds on uniform and production-shaped traffic."""
    clinc = load_clinc()
    if clinc is None:
        return f"Production-shaped scenarios skipped: {CLINC_PATH} is absent.\n"
    rows, studies, runs = [], [], []
    for name, seed_label, scenario in production_scenarios(clinc, seeds):
        seed = scenario.seed
        traffic_text = scenario.traffic["text"].tolist()
        eval_text = scenario.evals["text"].tolist()
        texts, vectors = clinc_embeddings(clinc, traffic_text + eval_text, DEFAULT_MODEL)
        row = {text: i for i, text in enumerate(texts)}
        T, E = vectors[[row[t] for t in traffic_text]], vectors[[row[t] for t in eval_text]]
        run = partial(run_evalcov, texts, vectors, DEFAULT_MODEL, traffic_text, eval_text, seed)
        methods = {"evalcov": run, NO_FLOOR: partial(run, reach_floor=None)}
        for t in THRESHOLDS:
            methods[f"nearest-eval cos ≥ {t}"] = partial(run_threshold, T, E, t)
        for method, fn in methods.items():
            verdict, seconds, error = timed(fn)
            if error is not None:
                print(f"{name} seed {seed_label} {method}: ERROR {error}", flush=True)
                continue
            metrics = clinc_metrics(scenario, verdict)
            metrics.pop("ARI", None)
            metrics["10 heaviest covered intents flagged"] = heavy_flagged(
                scenario, verdict.uncovered
            )
            if verdict.report is not None:
                metrics["heavy intents reported thin"] = thin_recall(scenario, verdict.report)
                metrics["false gaps naming their own prompt"] = false_gaps_named(
                    scenario, verdict.report
                )
                if rules and method == "evalcov":
                    found, run = rule_study(scenario, verdict.report)
                    studies += [{"scenario": name, "seed": seed_label, **f} for f in found]
                    runs.append({**run, "name": name, "seed": seed_label})
            metrics["time (s)"] = seconds
            rows.append({"scenario": name, "method": method, "seed": seed_label, **metrics})
            print(
                f"{name} seed {seed_label} {method}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()),
                flush=True,
            )
    if runs:
        studies += trained_rules(runs)
    frame = pd.DataFrame(rows)
    columns = [c for c in frame.columns if c not in ("scenario", "method", "seed")]
    table = (
        frame.groupby(["scenario", "method"], sort=False)[columns]
        .median()
        .round(3)
        .reset_index()
        .fillna("–")
    )
    per_seed = frame[frame["method"].isin(["evalcov", NO_FLOOR])].pivot_table(
        index=["scenario", "seed"],
        columns="method",
        values=["F1", "coverage error", "10 heaviest covered intents flagged"],
        sort=False,
    )
    per_seed.columns = [f"{metric}, {method}" for metric, method in per_seed.columns]
    per_seed = per_seed.round(3).reset_index()
    return (
        f"## Production-shaped CLINC150 (seeds {seeds}; medians over seeds)\n\n"
        "Eval set as in the uniform scenario: 5 prompts per covered intent, 20% of the intents "
        "held out. Traffic: about 30,000 rows whose intent volumes follow Zipf's law "
        "(intent r gets a share ∝ 1/r^s, intents ranked at random), each intent's texts "
        "popular in Zipf order too (heavy intents repeat them verbatim), plus every CLINC "
        "out-of-scope query once. The paraphrased variant turns half of the repeats into "
        "noisy variants (typos, fillers, casing), so heavy intents have many more distinct "
        "texts. The narrow-domain scenario (`_clinc.narrow_scenario`, run on each of CLINC's "
        "10 domains per seed) is a one-domain assistant: a random intent takes 73% of 5,000 "
        "rows in ~2,000 distinct phrasings, the domain's other 14 intents share the rest in "
        "Zipf order, 4 of them have no prompt, no out-of-scope rows. Heaviest flagged: share "
        "of the traffic of the 10 heaviest covered intents flagged uncovered. Thin: share of "
        "the traffic of covered intents whose traffic share is ≥ 5x their share of prompts "
        "that evalcov reports thin (counted covered). False gaps naming their own prompt: "
        "share of the flagged traffic of covered intents whose cluster's `closest_eval` is a "
        "prompt of its own intent (what a reader of the gap list sees at a glance). "
        f"`{NO_FLOOR}` is the engine without the "
        "reach floor (every prompt claims exactly its k nearest texts), measured in the same "
        "run.\n"
        "Targets for evalcov (Zipf): F1 ≥ 0.80, coverage error ≤ 0.03, heaviest flagged "
        "≤ 0.05, thin ≥ 0.80.\n\n"
        f"{_markdown(table)}\n\n"
        "### evalcov per seed (same run)\n\n"
        f"{_markdown(per_seed)}\n" + (f"\n{_rules_section(studies)}" if studies else "")
    )


RESULTS_GENERATOR = RESULTS.with_name("coverage_generator.md")
GENERATOR_TIMEOUT_S = 1800


def generator_worker(n_rows: int, seed: int) -> dict:
    """One size and seed of the synthetic log (:mod:`_generator`), in this process: evalcov's
    default fit on the generator's topic-word embedder, its per-row verdict against the truth,
    the nearest-prompt thresholds and the near-duplicate claims on the same vectors."""
    from _generator import TopicWordEmbedder, generate
    from bench_scale import _cpu_s, _peak_mb, _release_freed_memory

    from evalcov.analyzer import CoverageAnalyzer

    log = generate(n_rows, seed=seed)
    traffic = log.traffic[["text"]]
    truth = log.traffic["uncovered"].to_numpy()
    _release_freed_memory()
    cpu, clock = _cpu_s(), time.perf_counter()
    analyzer = CoverageAnalyzer(
        embedder=TopicWordEmbedder(log.topics), cache=False, show_progress=False, random_state=seed
    ).fit(traffic, log.evals[["text"]], text="text")
    wall, cpu, peak = time.perf_counter() - clock, _cpu_s() - cpu, _peak_mb()
    report = analyzer.report_
    covered = report.queries["covered"].fillna(False).astype(bool).to_numpy()
    clusters = report.queries["cluster"].to_numpy()
    heavy = log.traffic.loc[~truth, "topic"].value_counts().head(10).index
    in_heavy = log.traffic["topic"].isin(heavy).to_numpy()

    def scores(flagged: np.ndarray, coverage: float) -> dict:
        precision, recall, f1, _ = precision_recall_fscore_support(
            truth, flagged, average="binary", zero_division=0
        )
        return {
            "accuracy": float((flagged == truth).mean()),
            "F1": f1,
            "precision": precision,
            "recall": recall,
            "coverage error": abs(coverage - log.true_coverage),
            "10 heaviest covered topics flagged": float(flagged[in_heavy].mean()),
        }

    methods = {"evalcov": scores(~covered, float(report.coverage))}
    U = np.asarray(report.traffic_embeddings_, dtype=np.float32)
    E = np.asarray(report.eval_embeddings_, dtype=np.float32)
    best = _max_cos(U, E)[report.traffic_dedup_.codes]  # no row is excluded here
    for t in THRESHOLDS:
        flagged = best < t
        methods[f"nearest-eval cos ≥ {t}"] = scores(flagged, float(1 - flagged.mean()))
    for name, per_cluster in (("near-duplicate claims", False), ("requests per cluster", True)):
        clock = time.perf_counter()
        judged = near_duplicate_claims(report, U, E, per_cluster=per_cluster)
        seconds = time.perf_counter() - clock
        flagged = ~judged[clusters]
        methods[f"{name} (rule study)"] = {
            **scores(flagged, float(1 - flagged.mean())),
            "rule s": seconds,
        }
    return {
        "rows": n_rows,
        "distinct": len(U),
        "seed": seed,
        "true coverage": log.true_coverage,
        "reported coverage": float(report.coverage),
        "fit wall s": wall,
        "fit CPU s": cpu,
        "peak MB": peak,
        "methods": methods,
    }


def bench_generator(sizes: list[int], seeds: list[int]) -> str:
    """The synthetic log at each size and seed, each run in a fresh process (its own peak)."""
    import json
    import subprocess

    rows, runs = [], []
    for n_rows in sizes:
        for seed in seeds:
            cmd = [sys.executable, __file__, "--generator-worker", str(n_rows), str(seed)]
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=GENERATOR_TIMEOUT_S, check=False
            )
            if out.returncode != 0:
                raise RuntimeError(f"{n_rows} rows, seed {seed} failed:\n{out.stderr[-3000:]}")
            run = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(run), flush=True)
            runs.append({k: v for k, v in run.items() if k != "methods"})
            for method, metrics in run["methods"].items():
                rows.append({"rows": n_rows, "method": method, "seed": seed, **metrics})
    frame = pd.DataFrame(rows)
    columns = [c for c in frame.columns if c not in ("rows", "method", "seed")]
    table = frame.groupby(["rows", "method"], sort=False)[columns].median().round(3)
    cost = pd.DataFrame(runs).groupby("rows")[
        ["distinct", "true coverage", "reported coverage", "fit wall s", "fit CPU s", "peak MB"]
    ]
    return (
        f"## Synthetic production log (seeds {seeds}; medians over seeds)\n\n"
        "`benchmarks/_generator.py`: 200 topics that share sentence frames but no content "
        "word, Zipf(0.8) topic volumes, distinct texts drawn in those shares (a heavy topic "
        "has many more distinct texts), 40% distinct rows with Zipf(1.1) repeats; 150 topics "
        "tested by 1,000 prompts spread evenly. Vectors: the generator's `TopicWordEmbedder` "
        "(a bag of random word vectors in which a topic's content words share a direction: "
        "texts of one topic have mean cosine 0.64, of different topics 0.08, and 99% of "
        "texts have a nearest neighbour of their own topic; all-MiniLM-L6-v2 on CLINC150 "
        "intents: 0.50, 0.08 and 89%). "
        "A row is truly uncovered when its topic has no prompt. Targets for evalcov at 1M "
        "rows: accuracy ≥ 0.97, ≤ 120 s, ≤ 4 GB. The two near-duplicate rules are the rule "
        "study's (`near_duplicate_claims`), not what evalcov ships.\n\n"
        f"{_markdown(table.reset_index().fillna('–'))}\n\n"
        "Cost of evalcov's default fit (read to report, embedding included), medians:\n\n"
        f"{_markdown(cost.median().round(3).reset_index())}\n"
    )


def _diagnosis_section(diagnoses: list[dict[str, float]]) -> str:
    if not diagnoses:
        return ""
    frame = pd.DataFrame(diagnoses)
    rows = [
        {"quantity": name, "mean ± std over seeds": _mean_std(frame[name].tolist())}
        for name in frame.columns
    ]
    return (
        "\n### Where evalcov's F1 is lost\n\n"
        "Misjudged rows as a share of all traffic rows, by cause (cluster status is evalcov's), "
        "and two ceilings on the same claims: the best labels any cluster-level rule could give "
        "evalcov's clusters, and evalcov's rule applied to the true intents as clusters "
        "(each out-of-scope text its own cluster). The AUC and best-cutoff rows ask whether the "
        "clusters that hold no prompt (fragments of covered intents and uncovered topics "
        "alike) could be judged better from the prompts' claims: the cutoff is chosen with the "
        "truth, so it bounds every claimed-share rule for those clusters on this map. The last "
        "rows are a lead, not shipped: the "
        "same claims and rule on k-means maps of the original space at 7 resolutions set by "
        "the eval set (clusters expecting 1 to 6 prompts each), each query judged by the "
        "majority of maps; bench_drift reports its per-window coverage error.\n\n"
        f"{_markdown(pd.DataFrame(rows))}\n"
    )


def bench_xsid(evalcov_note: str | None) -> str:
    xsid = load_xsid()
    if xsid is None:
        return f"xSID skipped: no *.test.conll in {XSID_DIR}.\n"
    evals = xsid[xsid["language"] == "en"]
    traffic = xsid[xsid["language"] != "en"].reset_index(drop=True)
    languages = traffic["language"].to_numpy()
    columns: dict[str, pd.Series] = {}
    notes = []
    for label, model in (("default", DEFAULT_MODEL), ("multilingual", MULTILINGUAL_MODEL)):
        texts, vectors = cached_embeddings(xsid["text"].tolist(), model)
        row = {text: i for i, text in enumerate(texts)}
        T = vectors[[row[t] for t in traffic["text"]]]
        E = vectors[[row[t] for t in evals["text"]]]
        runs = {f"threshold-0.5 {label}": lambda T=T, E=E: run_threshold(T, E, 0.5)}
        if evalcov_note is None:
            runs[f"evalcov {label}"] = lambda texts=texts, vectors=vectors, model=model: (
                run_evalcov(
                    texts, vectors, model, traffic["text"].tolist(), evals["text"].tolist(), 0
                )
            )
            runs[f"evalcov {label}, one run per language"] = (
                lambda texts=texts, vectors=vectors, model=model: _per_language(
                    texts, vectors, model, traffic, evals["text"].tolist()
                )
            )
        for name, fn in runs.items():
            verdict, seconds, error = timed(fn)
            if error is not None:
                columns[name] = pd.Series(f"error: {error}", index=np.unique(languages))
                continue
            flagged = pd.Series(verdict.uncovered).groupby(languages).mean()
            flagged["all"] = verdict.uncovered.mean()
            columns[name] = flagged.map(lambda v: f"{100 * v:.1f}%")
            notes.append(f"{name}: {seconds:.1f} s")
            print(f"xSID {name}: {100 * verdict.uncovered.mean():.1f}% flagged", flush=True)
    order = ["evalcov default", "evalcov multilingual", "evalcov default, one run per language"]
    order += [
        "evalcov multilingual, one run per language",
        "threshold-0.5 default",
        "threshold-0.5 multilingual",
    ]
    frame = pd.DataFrame({name: columns.get(name) for name in order})
    frame = frame.fillna(evalcov_note or "–").rename_axis("language").reset_index()
    return (
        f"## xSID: share of traffic wrongly flagged uncovered (all intents covered)\n\n"
        f"Eval set: {len(evals)} English test prompts; traffic: {len(traffic)} test sentences in "
        f"{traffic['language'].nunique()} other languages, analyzed in one run (all languages "
        f"mixed, as a multilingual product's log) and, in the per-language columns, one run per "
        f"language (as a product serving one market). Default = "
        f"{DEFAULT_MODEL}, multilingual = {MULTILINGUAL_MODEL} (USE multilingual v3). "
        f"Target: ≤ 10% in every language with the multilingual embedder.\n"
        f"Times: {'; '.join(notes)}.\n\n{_markdown(frame)}\n"
    )


def _per_language(
    texts: list[str], vectors: np.ndarray, model: str, traffic: pd.DataFrame, evals: list[str]
) -> Verdict:
    """evalcov run separately on each language's traffic against the same eval set."""
    uncovered = np.zeros(len(traffic), dtype=bool)
    for _, rows in traffic.groupby("language", sort=True):
        verdict = run_evalcov(texts, vectors, model, rows["text"].tolist(), evals, 0)
        uncovered[rows.index.to_numpy()] = verdict.uncovered
    return _verdict_from_flags(uncovered)


def use_embedder(spec: str) -> None:
    """Measure on ``spec``'s space wherever the benchmark uses its default model, and write the
    results next to the default ones instead of over them."""
    global DEFAULT_MODEL, RESULTS, RESULTS_PRODUCTION, RESULTS_RULES
    import re

    import _clinc

    from evalcov import embed, get_embedder

    model = get_embedder(spec)
    # The model's name (folder hash, endpoint) keys benchmarks/.cache, not the spec alone.
    key = re.sub(r"[^A-Za-z0-9@.=-]+", "_", model.name)
    _clinc.EMBEDDERS[key] = lambda: lambda texts: embed(texts, model, show_progress=True)
    DEFAULT_MODEL = key
    RESULTS = RESULTS.with_name(f"coverage-{key[:80]}.md")
    RESULTS_PRODUCTION = RESULTS.with_name(f"coverage_production-{key[:80]}.md")
    RESULTS_RULES = RESULTS.with_name(f"coverage_rules-{key[:80]}.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--skip-xsid", action="store_true", help="skip the multilingual part")
    parser.add_argument("--only-baselines", action="store_true", help="do not run evalcov")
    parser.add_argument(
        "--production",
        action="store_true",
        help="run the production-shaped scenarios instead (results/coverage_production.md)",
    )
    parser.add_argument(
        "--rules",
        action="store_true",
        help="with --production: also judge evalcov's map by the rules of rule_study "
        "(results/coverage_rules.md)",
    )
    parser.add_argument(
        "--embedder",
        metavar="SPEC",
        help="measure on this encoder instead of all-MiniLM-L6-v2: anything "
        "evalcov.get_embedder takes (a model folder or hub id; openai:MODEL with "
        "OPENAI_BASE_URL / OPENAI_API_KEY set)",
    )
    parser.add_argument(
        "--generator",
        type=int,
        nargs="+",
        metavar="ROWS",
        help="run the synthetic production log at these sizes instead "
        "(results/coverage_generator.md)",
    )
    parser.add_argument("--generator-worker", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generator_worker is not None:
        import json

        print(json.dumps(generator_worker(*args.generator_worker)))
        return
    if args.generator is not None:
        text = "# Coverage on a synthetic production log\n\n" + bench_generator(
            args.generator, args.seeds
        )
        print("\n" + text)
        RESULTS_GENERATOR.write_text(text)
        print(f"written to {RESULTS_GENERATOR}")
        return
    if args.embedder is not None:
        use_embedder(args.embedder)
    # UMAP says it runs single-threaded when seeded; that is the point of seeding it here.
    warnings.filterwarnings("ignore", message="n_jobs value .* overridden", category=UserWarning)

    evalcov_note = "not run (--only-baselines)" if args.only_baselines else None
    if evalcov_note is None:
        analyze, error = _analyze()
        if analyze is None:
            evalcov_note = f"evalcov: not available ({error})"
            print(f"{evalcov_note}; running the baselines only", flush=True)
    # A fresh engine cache per run, so evalcov's times never benefit from a previous run.
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EVALCOV_CACHE_DIR"] = cache
        if args.production:
            text = (
                f"# Coverage on production-shaped traffic ({DEFAULT_MODEL})\n\n"
                + bench_production(args.seeds, rules=args.rules)
            )
            print("\n" + text)
            out = RESULTS_RULES if args.rules else RESULTS_PRODUCTION
            out.write_text(text)
            print(f"written to {out}")
            return
        sections = ["# Coverage benchmark\n", bench_clinc(args.seeds, evalcov_note)]
        if not args.skip_xsid:
            sections.append(bench_xsid(evalcov_note))
    text = "\n".join(sections)
    print("\n" + text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
