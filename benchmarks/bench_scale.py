"""How evalcov's time and memory grow with traffic size, against BERTopic on the same embeddings.

Run: ``python benchmarks/bench_scale.py`` (about 35 minutes on a shared 2-core machine, most of it
BERTopic; ``--sizes 10000 100000`` and ``--bertopic-timeout 300`` for a shorter run). Writes
``benchmarks/results/scale.md``.

Data: synthetic support traffic from a template generator (40 topics, slot fillers and numbers),
with 40% distinct texts and Zipf-distributed repeats, plus 1,000 eval prompts drawn from 30 of
the topics. Every measurement runs in a fresh subprocess, so peak RSS (``ru_maxrss``) is that
size's own. Stages are timed by calling the pieces the way :class:`evalcov.CoverageAnalyzer`
does: read (``read_traffic``/``read_evals``), dedupe, embed, fit (k-means, one cluster per two
eval prompts, on at most ``max_fit`` = 20,000 distinct texts), assign (nearest centre of the
other distinct texts, plus their nearest fitted text for novelty), measure
(``build_report``: nearest eval, claims, coverage, labels, the per-row table).

Embedders:

- ``hash``: a cheap deterministic stand-in (hashing-trick bag of words, fixed random projection
  to 384-d, unit norm) so that the 1M case measures the engine, not the model.
- ``default``: the real all-MiniLM-L6-v2, empty cache, at 10k rows.
- ``fast``: the int8 ONNX model; its throughput is measured on 2,000 distinct texts and the
  time for 1M rows (400k distinct) with an empty cache is an *estimate* from it plus the
  engine's measured time with the cheap embedder.

BERTopic (defaults for UMAP and HDBSCAN) gets the same per-row embeddings, runs
``fit_transform`` and ``topics_per_class`` (traffic vs eval), with a timeout per size; a run
that hits it is reported as a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "scale.md"

UNIQUE_SHARE = 0.4
N_EVAL = 1000
N_TOPICS = 40
N_EVAL_TOPICS = 30
DIM = 384
_NOT_RUN = "not run"

_NOUNS = (
    "card account order payment refund transfer loan mortgage password address invoice "
    "subscription delivery package statement limit fee pin app login device report claim "
    "insurance ticket booking flight hotel reservation warranty receipt balance deposit check "
    "wallet coupon discount membership appointment prescription battery screen router printer"
).split()
_VERBS = (
    "cancel change update reset close open track return dispute report activate block renew "
    "upgrade downgrade verify confirm schedule move split refund pay find check replace"
).split()
_ADJ = "new old lost stolen broken late missing wrong duplicate blocked expired frozen".split()
_FRAMES = (
    "how do i {v} my {a} {n}",
    "i want to {v} the {n} {x}",
    "can you help me {v} my {n} please",
    "why is my {n} {a}",
    "{v} {n} {x} asap",
    "is it possible to {v} a {a} {n} online",
    "what happens if i {v} my {n} after {k} days",
    "my {n} number {k} is {a}, can you {v} it",
)
_EXTRA = "today tomorrow now again online abroad twice".split()


def _topics(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    topics = []
    for t in range(N_TOPICS):
        noun = _NOUNS[t]
        topics.append(
            {
                "n": [noun] + rng.sample(_NOUNS, 2),
                "v": rng.sample(_VERBS, 4),
                "a": rng.sample(_ADJ, 3),
                "frames": rng.sample(_FRAMES, 4),
            }
        )
    return topics


def _text(topic: dict, rng: random.Random) -> str:
    frame = rng.choice(topic["frames"])
    return frame.format(
        v=rng.choice(topic["v"]),
        n=topic["n"][0] if rng.random() < 0.7 else rng.choice(topic["n"]),
        a=rng.choice(topic["a"]),
        x=rng.choice(_EXTRA),
        k=rng.randrange(1, 100_000),
    )


def make_data(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """n_rows traffic rows (40% distinct texts, Zipf repeats) and N_EVAL eval prompts."""
    rng = random.Random(seed)
    topics = _topics()
    shares = np.array([1 / (t + 1) ** 0.8 for t in range(N_TOPICS)])
    shares /= shares.sum()
    n_unique = int(n_rows * UNIQUE_SHARE)
    topic_of = np.random.default_rng(seed).choice(N_TOPICS, size=4 * n_unique, p=shares)
    pool: dict[str, None] = {}
    for t in topic_of:
        pool.setdefault(_text(topics[t], rng), None)
        if len(pool) == n_unique:
            break
    texts = np.array(list(pool), dtype=object)
    nprng = np.random.default_rng(seed + 1)
    popularity = 1 / np.arange(1, n_unique + 1) ** 1.1
    repeats = nprng.choice(n_unique, size=n_rows - n_unique, p=popularity / popularity.sum())
    rows = np.concatenate([np.arange(n_unique), repeats])
    nprng.shuffle(rows)
    start = np.datetime64("2026-06-01T00:00:00")
    seconds = np.sort(nprng.integers(0, 12 * 7 * 86400, n_rows))
    traffic = pd.DataFrame({"text": texts[rows], "time": start + seconds.astype("m8[s]")})
    erng = random.Random(seed + 2)
    evals = list(
        dict.fromkeys(_text(topics[erng.randrange(N_EVAL_TOPICS)], erng) for _ in range(3 * N_EVAL))
    )[:N_EVAL]
    return traffic, evals


class HashEmbedder:
    """Hashing-trick bag of words (unigrams + bigrams) projected to 384-d: cheap, deterministic."""

    name = "hash-bow-384@bench-scale"
    cacheable = False

    def __init__(self, n_features: int = 2**14, seed: int = 0):
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vectorizer = HashingVectorizer(
            n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm=None
        )
        self._projection = (
            np.random.default_rng(seed).standard_normal((n_features, DIM)).astype(np.float32)
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        counts = self._vectorizer.transform(texts).astype(np.float32)
        vectors = np.asarray(counts @ self._projection, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process and its threads: less inflated than wall time by the
    other jobs on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_evalcov(n_rows: int, embedder: str) -> dict:
    """Time each stage of the engine on n_rows rows (in this process)."""
    from evalcov.analyzer import CoverageAnalyzer, build_report
    from evalcov.dedupe import dedupe
    from evalcov.embedders import embed, get_embedder
    from evalcov.ingest import read_evals, read_traffic
    from evalcov.mapping import TrafficMap

    traffic, evals = make_data(n_rows)
    model = HashEmbedder() if embedder == "hash" else get_embedder(embedder)
    stages: dict[str, tuple[float, float, float]] = {}
    clock = time.perf_counter()
    cpu = _cpu_s()

    def done(stage: str) -> None:
        nonlocal clock, cpu
        now, now_cpu = time.perf_counter(), _cpu_s()
        stages[stage] = (now - clock, _peak_mb(), now_cpu - cpu)
        clock, cpu = now, now_cpu

    base_rss = _peak_mb()
    with tempfile.TemporaryDirectory() as cache:
        clock, cpu = time.perf_counter(), _cpu_s()
        tf = read_traffic(traffic, text="text", time="time")
        ef = read_evals(evals)
        done("read")
        dt, de = dedupe(tf), dedupe(ef)
        done("dedupe")
        cache_arg = False if embedder == "hash" else cache
        U = embed(dt.texts, model, cache=cache_arg, show_progress=False)
        E = embed(de.texts, model, cache=cache_arg, show_progress=False)
        done("embed")
        analyzer = CoverageAnalyzer(embedder=model, cache=cache_arg)
        analyzer.embedder_ = model
        m = TrafficMap(
            n_clusters=analyzer.n_clusters_for(len(de.texts)),
            max_fit=analyzer.max_fit,
            random_state=0,
        )
        fit_index = m.sample_index(len(U))
        m.fit_sample(U[fit_index], len(U))
        done("fit")
        labels = np.empty(len(U), dtype=np.int64)
        labels[fit_index] = m.fit_labels_
        rest = np.setdiff1d(np.arange(len(U)), fit_index)
        labels[rest] = m.assign(U[rest]).labels
        traffic_w = np.bincount(labels, weights=dt.weights, minlength=m.n_clusters_)
        labels = m.order_clusters(traffic_w)[labels]
        analyzer.map_ = m
        outlier = np.zeros(len(U), dtype=bool)
        outlier[fit_index] = m.fit_outlier_
        done("assign")
        report = build_report(
            analyzer=analyzer,
            traffic_frame=tf,
            traffic_dedup=dt,
            traffic_embeddings=U,
            labels=labels,
            outlier=outlier,
            eval_frame=ef,
            eval_dedup=de,
            eval_embeddings=E,
            claim_k=max(1, int(np.ceil(analyzer.reach * len(U) / len(E)))),
        )
        done("measure")
        agreement = _exact_agreement(m, U, labels, rest)
    return {
        "rows": n_rows,
        "unique": len(U),
        "embedder": embedder,
        "stages": stages,
        "total_s": sum(s[0] for s in stages.values()),
        "total_cpu_s": sum(s[2] for s in stages.values()),
        "peak_mb": _peak_mb(),
        "base_mb": base_rss,
        "coverage": report.coverage,
        "clusters": int(len(report.clusters)),
        "exact_agreement": agreement,
    }


def _exact_agreement(m, U: np.ndarray, labels: np.ndarray, rest: np.ndarray, n: int = 5000):
    """Share of (up to n) assigned texts whose cluster and novelty flag equal an exhaustive
    computation's (numpy, not evalcov's code): the nearest k-means centre, and the similarity
    to the nearest fitted text against the novelty threshold.

    Above 5,000 fitted texts the map finds the nearest fitted text through a cell index, not
    by a full scan; this checks it on a sample.
    """
    if not len(rest):
        return None
    rows = np.random.default_rng(0).choice(rest, min(n, len(rest)), replace=False)
    ref, ref_labels = m.fit_embeddings_, m.fit_labels_
    centres = np.stack(
        [ref[ref_labels == c].astype(np.float64).mean(axis=0) for c in range(m.n_clusters_)]
    )
    got = m.assign(U[rows])
    same = np.empty(len(rows), dtype=bool)
    for start in range(0, len(rows), 1000):
        X = U[rows[start : start + 1000]]
        X64 = X.astype(np.float64)
        dist = (X64**2).sum(1)[:, None] - 2 * X64 @ centres.T + (centres**2).sum(1)[None]
        exact = dist.argmin(axis=1)
        novel = (X @ ref.T).max(axis=1) < m.novelty_threshold_
        same[start : start + 1000] = (exact == labels[rows[start : start + 1000]]) & (
            novel == got.novel[start : start + 1000]
        )
    return float(np.mean(same))


def run_throughput(embedder: str, n_texts: int = 2000) -> dict:
    """Texts/s of a real embedder on distinct synthetic texts, empty cache."""
    from evalcov.embedders import embed, get_embedder

    traffic, _ = make_data(int(n_texts / UNIQUE_SHARE) + 10)
    texts = list(dict.fromkeys(traffic["text"]))[:n_texts]
    model = get_embedder(embedder)
    embed(texts[:64], model, cache=False, show_progress=False)
    start = time.perf_counter()
    embed(texts, model, cache=False, show_progress=False)
    seconds = time.perf_counter() - start
    return {"embedder": embedder, "texts": len(texts), "seconds": seconds}


def run_bertopic(n_rows: int) -> dict:
    """BERTopic fit_transform + topics_per_class (traffic vs eval) on the same embeddings."""
    import warnings

    from bertopic import BERTopic

    warnings.simplefilter("ignore")
    traffic, evals = make_data(n_rows)
    docs = traffic["text"].tolist() + evals
    model = HashEmbedder()
    unique, inverse = np.unique(np.asarray(docs, dtype=object), return_inverse=True)
    start = time.perf_counter()
    vectors = model.embed(unique.tolist())[inverse]
    embed_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), _cpu_s()
    topic_model = BERTopic(calculate_probabilities=False)
    topic_model.fit_transform(docs, embeddings=vectors)
    fit_s = time.perf_counter() - start
    classes = ["traffic"] * len(traffic) + ["eval"] * len(evals)
    start = time.perf_counter()
    topic_model.topics_per_class(docs, classes=classes)
    tpc_s = time.perf_counter() - start
    return {
        "rows": n_rows,
        "embed_s": embed_s,
        "fit_s": fit_s,
        "topics_per_class_s": tpc_s,
        "total_s": fit_s + tpc_s,
        "cpu_s": _cpu_s() - cpu,
        "peak_mb": _peak_mb(),
    }


def _subprocess(args: list[str], timeout: float) -> dict | None:
    """Run this script in a child process; None when it exceeds the timeout."""
    cmd = [sys.executable, __file__, "--worker", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{args} failed:\n{exc.stderr[-3000:]}") from None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _growth(rows: list[dict]) -> str:
    if len(rows) < 2:
        return ""
    a, b = rows[0], rows[-1]
    wall = np.log(b["total_s"] / a["total_s"]) / np.log(b["rows"] / a["rows"])
    cpu = np.log(b["total_cpu_s"] / a["total_cpu_s"]) / np.log(b["rows"] / a["rows"])
    return (
        f"From {a['rows']:,} to {b['rows']:,} rows, wall time grows as N^{wall:.2f} and CPU "
        f"time as N^{cpu:.2f} (the fit is bounded by max_fit; assign and measure are linear)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--bertopic-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--bertopic-timeout", type=float, default=1200.0)
    parser.add_argument("--default-sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument(
        "--fast-sizes",
        type=int,
        nargs="*",
        default=[],
        help="also run these sizes end to end with the fast embedder and an empty cache",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="re-render the tables from the JSON lines a previous run printed; "
        "measurements missing there are shown as not run",
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logged = None
    if args.from_json:
        logged = iter(
            json.loads(line)
            for line in args.from_json.read_text().splitlines()
            if line.startswith("{") or line == "null"
        )

    def measure(worker_args: list[str], timeout: float) -> dict | None | str:
        if logged is not None:
            return next(logged, _NOT_RUN)
        result = _subprocess(worker_args, timeout)
        print(json.dumps(result), flush=True)
        return result

    if args.worker:
        kind, *rest = args.worker
        if kind == "evalcov":
            result = run_evalcov(int(rest[0]), rest[1])
        elif kind == "throughput":
            result = run_throughput(rest[0])
        else:
            result = run_bertopic(int(rest[0]))
        print(json.dumps(result))
        return

    lines = [
        "# Scale: evalcov vs BERTopic",
        "",
        f"Machine: {os.cpu_count()} cores, shared with other jobs (1-minute load average at "
        f"start {os.getloadavg()[0]:.1f}, at the end LOAD_END); wall times are inflated by "
        "that load, CPU times much less.",
        "Synthetic template traffic, 40% distinct texts, 1,000 eval prompts; one run per size.",
        "",
        "## evalcov stages (wall s / CPU s / peak RSS MB after the stage)",
        "",
        "The fit is k-means with 500 clusters (one per two eval prompts), three starts.",
        "`assign = exact`: share of 5,000 assigned texts (outside the fit sample) whose cluster",
        "and novelty flag equal an exhaustive computation's (the nearest fitted text is found",
        "through a cell index above 5,000 fitted texts).",
        "",
        "| rows | distinct | embedder | read | dedupe | embed | fit | assign | measure "
        "| total wall s | total CPU s | peak RSS MB | coverage | clusters | assign = exact |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    hashed: list[dict] = []
    runs = [(n, "hash") for n in args.sizes] + [(n, "default") for n in args.default_sizes]
    runs += [(n, "fast") for n in args.fast_sizes]
    full_fast: list[dict] = []
    for n, embedder in runs:
        r = measure(["evalcov", str(n), embedder], timeout=3600)
        if embedder == "hash":
            hashed.append(r)
        elif embedder == "fast":
            full_fast.append(r)
        cells = " | ".join(
            f"{r['stages'][s][0]:.1f} / {r['stages'][s][2]:.1f} / {r['stages'][s][1]:.0f}"
            for s in ("read", "dedupe", "embed", "fit", "assign", "measure")
        )
        lines.append(
            f"| {n:,} | {r['unique']:,} | {embedder} | {cells} | {r['total_s']:.1f} "
            f"| {r['total_cpu_s']:.1f} | {r['peak_mb']:.0f} | {r['coverage']:.3f} "
            f"| {r['clusters']} | {_share(r.get('exact_agreement'))} |"
        )
    lines += ["", _growth(hashed), ""]

    fast = measure(["throughput", "fast"], timeout=1800)
    rate = fast["texts"] / fast["seconds"]
    biggest = hashed[-1]
    engine = biggest["total_s"] - biggest["stages"]["embed"][0]
    estimate = engine + biggest["unique"] / rate
    lines += [
        "## `fast` embedder, empty cache (estimate)",
        "",
        f"Measured: {rate:.0f} distinct texts/s ({fast['texts']} texts in "
        f"{fast['seconds']:.1f} s). Estimated end to end for {biggest['rows']:,} rows "
        f"({biggest['unique']:,} distinct): {estimate:.0f} s = {estimate / 60:.1f} min "
        f"(engine without embedding {engine:.0f} s, measured above, + "
        f"{biggest['unique']:,} / {rate:.0f} texts/s). This is an estimate, not a full run.",
        "",
        *(
            f"Measured end to end with the fast embedder and an empty cache: {r['rows']:,} rows "
            f"({r['unique']:,} distinct) in {r['total_s']:.0f} s = {r['total_s'] / 60:.1f} min "
            f"wall, {r['total_cpu_s']:.0f} CPU s; embedding {r['stages']['embed'][0]:.0f} s "
            "(row in the table above)."
            for r in full_fast
        ),
        "",
        "## BERTopic (fit_transform + topics_per_class, same embeddings)",
        "",
        "| rows | BERTopic wall s | CPU s | peak RSS MB | evalcov wall s / CPU s (no embed) "
        "| BERTopic / evalcov wall | CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_rows = {r["rows"]: r for r in hashed}
    for n in args.bertopic_sizes:
        ours = by_rows.get(n)
        b = measure(["bertopic", str(n)], timeout=args.bertopic_timeout)
        ours_s = ours["total_s"] - ours["stages"]["embed"][0] if ours else float("nan")
        ours_cpu = ours["total_cpu_s"] - ours["stages"]["embed"][2] if ours else float("nan")
        if b == _NOT_RUN:
            lines.append(f"| {n:,} | not run | - | - | {ours_s:.1f} / {ours_cpu:.1f} | - | - |")
        elif b is None:
            lines.append(
                f"| {n:,} | > {args.bertopic_timeout:.0f} (timeout) | - | - "
                f"| {ours_s:.1f} / {ours_cpu:.1f} | > {args.bertopic_timeout / ours_s:.0f}x | - |"
            )
        else:
            lines.append(
                f"| {n:,} | {b['total_s']:.1f} | {b['cpu_s']:.1f} | {b['peak_mb']:.0f} "
                f"| {ours_s:.1f} / {ours_cpu:.1f} | {b['total_s'] / ours_s:.1f}x "
                f"| {b['cpu_s'] / ours_cpu:.1f}x |"
            )
    text = ("\n".join(lines) + "\n").replace("LOAD_END", f"{os.getloadavg()[0]:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
