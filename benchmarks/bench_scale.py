"""How evalcov's time and memory grow with traffic size, against BERTopic on the same embeddings.

Run: ``python benchmarks/bench_scale.py`` (about an hour on a shared 2-core machine, most of
it BERTopic; ``--sizes 10000 100000 --bertopic-sizes 10000`` for a short run; add
``10000000`` to ``--sizes`` for the ten-million-row case, about 4M distinct texts). Writes
``benchmarks/results/scale.md`` (``--out`` to change).

Data: synthetic support traffic from a template generator (40 topics, slot fillers and numbers),
with 40% distinct texts and Zipf-distributed repeats, plus 1,000 eval prompts drawn from 30 of
the topics. Every measurement runs in a fresh subprocess, so peak RSS (``ru_maxrss``) is that
size's own. evalcov runs :meth:`evalcov.CoverageAnalyzer.fit` itself (defaults, so float16
traffic embeddings above 1M distinct texts); its stages come from ``timings_``: read, dedupe,
embed, map (k-means on at most 20,000 distinct texts, topics, the rest assigned), measure
(claims, coverage, names, languages, the per-row table).

Checks in the same run:

- ``--dtype-check N``: the same N rows analyzed with float32 and float16 traffic embeddings,
  share of rows with the same covered flag;
- ``--fit-check SCENARIO``: the k-means fit before this version (scikit-learn KMeans, three
  k-means++ starts) against float32 seeding with three and one start, on this generator
  (``scale100000``) and on bench_coverage's CLINC150 scenarios (``clinc``, ``clinc-zipf``,
  cached all-MiniLM-L6-v2 vectors): fit time and agreement of per-row verdicts.

Embedders: ``hash``, a cheap deterministic stand-in (hashing-trick bag of words, fixed random
projection to 384-d, unit norm) so that large sizes measure the engine, not the model;
``--default-sizes`` / ``--fast-sizes`` run the real models end to end with an empty cache;
``--cached-sizes`` runs the stand-in twice on one fresh cache folder, the second run reading
every vector from evalcov's embedding cache (as a scheduled job on a log it has seen does).

BERTopic (defaults for UMAP and HDBSCAN) gets the same per-row embeddings, runs
``fit_transform`` and ``topics_per_class`` (traffic vs eval), with a timeout per size; a run
that hits it is reported as a lower bound.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
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


def repeat_rows(n_unique: int, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Row order over ``n_unique`` distinct texts: each once, the other ``n_rows - n_unique``
    rows drawn with Zipf(1.1) popularity (text i at rank i), shuffled."""
    popularity = 1 / np.arange(1, n_unique + 1) ** 1.1
    repeats = rng.choice(n_unique, size=n_rows - n_unique, p=popularity / popularity.sum())
    rows = np.concatenate([np.arange(n_unique), repeats])
    rng.shuffle(rows)
    return rows


def make_data(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """n_rows traffic rows (40% distinct texts, Zipf repeats) and N_EVAL eval prompts."""
    rng = random.Random(seed)
    topics = _topics()
    shares = np.array([1 / (t + 1) ** 0.8 for t in range(N_TOPICS)])
    shares /= shares.sum()
    n_unique = int(n_rows * UNIQUE_SHARE)
    topic_rng = np.random.default_rng(seed)
    pool: dict[str, None] = {}
    # Ten million rows want 4M distinct texts, more than one round of draws gives.
    while len(pool) < n_unique:
        for t in topic_rng.choice(N_TOPICS, size=4 * n_unique, p=shares):
            pool.setdefault(_text(topics[t], rng), None)
            if len(pool) == n_unique:
                break
    texts = np.array(list(pool), dtype=object)
    nprng = np.random.default_rng(seed + 1)
    rows = repeat_rows(n_unique, n_rows, nprng)
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
    # Vectorized: handed thousands of texts per call (as the `fast` embedder is), not 64.
    batches_internally = True

    def __init__(self, n_features: int = 2**14, seed: int = 0):
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vectorizer = HashingVectorizer(
            n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm=None
        )
        self._projection = (
            np.random.default_rng(seed).standard_normal((n_features, DIM)).astype(np.float32)
        )
        self.seconds = 0.0

    def embed(self, texts: list[str]) -> np.ndarray:
        clock = time.perf_counter()
        counts = self._vectorizer.transform(texts).astype(np.float32)
        vectors = np.asarray(counts @ self._projection, dtype=np.float32)
        out = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        # The stand-in model's own time, to tell evalcov's share of the embed stage from it.
        self.seconds += time.perf_counter() - clock
        return out


class CachedHashEmbedder(HashEmbedder):
    """The same stand-in, its vectors kept in evalcov's embedding cache: a scheduled job
    whose log's texts were embedded by an earlier run reads them instead of computing them."""

    name = "hash-bow-384@bench-scale-cached"
    cacheable = True


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _release_freed_memory() -> float:
    """Return the memory the data generator freed to the OS; the process's RSS after it (MB).

    Building the rows frees Python strings and Arrow buffers that glibc and Arrow's mimalloc
    pool keep cached (1M rows: 288 MB resident after the generator, 170 MB after this, with a
    57 MB input frame), so the RSS returned is what the process holds before ``fit``: the
    input frame and the libraries. It does not lower the peak: at 10M rows it was 8,215 MB
    with this and 8,216 MB without, as evalcov reuses that memory.
    """
    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _model_cells(r: dict) -> str:
    """The stand-in model's seconds and the total without them ("-" for other embedders and
    for runs recorded before they were measured)."""
    model = r.get("model_s")
    if model is None:
        return "- | -"
    return f"{model:.1f} | {r['total_s'] - model:.1f}"


def _cpu_s() -> float:
    """CPU seconds of this process and its threads: less inflated than wall time by the
    other jobs on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_evalcov(
    n_rows: int, embedder: str, dtype: str = "auto", cache_dir: str | None = None
) -> dict:
    """Time :meth:`evalcov.CoverageAnalyzer.fit` (the product path) on n_rows rows, stage by
    stage from its ``timings_``, in this process. ``hash-cached`` keeps the stand-in's vectors
    in the cache folder ``cache_dir`` (filled by the first run, read by the next ones)."""
    from evalcov.analyzer import CoverageAnalyzer

    traffic, evals = make_data(n_rows)
    if embedder == "hash":
        model = HashEmbedder()
    elif embedder == "hash-cached":
        model = CachedHashEmbedder()
    else:
        model = get_embedder(embedder)
    base_rss = _peak_mb()
    input_rss = _release_freed_memory()
    with tempfile.TemporaryDirectory() as cache:
        cpu, clock = _cpu_s(), time.perf_counter()
        analyzer = CoverageAnalyzer(
            embedder=model,
            cache=False if embedder == "hash" else cache_dir or cache,
            show_progress=False,
            embedding_dtype=dtype,
        ).fit(traffic, evals, text="text", time="time")
        wall, cpu = time.perf_counter() - clock, _cpu_s() - cpu
    report = analyzer.report_
    U = report.traffic_embeddings_
    labels = report.unique_["cluster"].to_numpy()
    rest = np.setdiff1d(np.arange(len(U)), analyzer.map_.fit_index_)
    return {
        "rows": n_rows,
        "unique": len(U),
        "embedder": embedder,
        "dtype": str(U.dtype),
        "stages": analyzer.timings_,
        "total_s": wall,
        "model_s": getattr(model, "seconds", None),
        "total_cpu_s": cpu,
        "peak_mb": _peak_mb(),
        "base_mb": base_rss,
        "input_rss_mb": input_rss,
        "coverage": report.coverage,
        "clusters": int(len(report.clusters)),
        "exact_agreement": _exact_agreement(analyzer.map_, U, labels, rest),
    }


def get_embedder(name: str):
    from evalcov.embedders import get_embedder as get

    return get(name)


def run_dtype_check(n_rows: int) -> dict:
    """Per-row verdicts with traffic embeddings held as float16 against float32 (exact)."""
    from evalcov.analyzer import CoverageAnalyzer

    traffic, evals = make_data(n_rows)
    runs = {}
    for dtype in ("float32", "float16"):
        a = CoverageAnalyzer(embedder=HashEmbedder(), cache=False, embedding_dtype=dtype)
        runs[dtype] = a.fit(traffic, evals, text="text", time="time").report_
    return {"rows": n_rows, **_verdict_agreement(runs["float32"], runs["float16"])}


def _verdict_agreement(ref, other) -> dict:
    """Share of traffic rows with the same covered flag, and both coverages."""
    a, b = ref.unique_, other.unique_
    count = a["count"].to_numpy()
    same = a["covered"].to_numpy() == b["covered"].to_numpy()
    return {
        "row_agreement": float((count * same).sum() / count.sum()),
        "coverage_ref": ref.coverage,
        "coverage": other.coverage,
    }


def run_fit_check(scenario: str) -> dict:
    """The k-means fit before (scikit-learn KMeans, three k-means++ starts) and with float32
    seeding (three starts, one start): fit time and agreement of per-row verdicts with the fit
    before. 'before, seed 1' shows how much a verdict moves with the seed alone."""
    import warnings

    from sklearn.cluster import KMeans

    import evalcov.mapping as mapping
    from evalcov.coverage import claim_radii, covered_from_claims, nearest_and_claimed

    class SklearnSeeding(mapping._KMeans):
        def fit_predict(self, X: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = KMeans(self.k, n_init=3, random_state=self.random_state)
                labels = model.fit_predict(X)
            return np.unique(labels, return_inverse=True)[1].astype(np.int64)

    U, w, E = _scenario_vectors(scenario)
    radii = claim_radii(E, U, max(1, int(np.ceil(len(U) / len(E)))))
    _, _, claimed = nearest_and_claimed(U, E, radii)

    def verdict(old: bool, seed: int) -> tuple[np.ndarray, float, float]:
        saved = mapping._KMeans
        mapping._KMeans = SklearnSeeding if old else saved
        try:
            clock, cpu = time.perf_counter(), _cpu_s()
            m = mapping.TrafficMap(n_clusters=round(len(E) / 2), random_state=seed).fit(U, w)
            wall, cpu = time.perf_counter() - clock, _cpu_s() - cpu
        finally:
            mapping._KMeans = saved
        covered, _, _ = covered_from_claims(claimed, m.labels_, w, m.assign(E).labels, 0.5, 0.2)
        return covered, wall, cpu

    ref, ref_wall, ref_cpu = verdict(True, 0)  # scikit-learn KMeans, 3 starts: the old default
    rows = [
        {
            "fit": "before, seed 0",
            "wall_s": ref_wall,
            "cpu_s": ref_cpu,
            "agreement": 1.0,
            "coverage": float(np.average(ref, weights=w)),
        }
    ]
    for label, old, seed, starts in (
        ("before, seed 1", True, 1, 3),
        ("float32 seeding, 3 starts, seed 0", False, 0, 3),
        ("float32 seeding, 1 start, seed 0", False, 0, 1),
        ("float32 seeding, 1 start, seed 1", False, 1, 1),
    ):
        saved = mapping._N_INIT, mapping._ONE_START_FROM
        mapping._N_INIT, mapping._ONE_START_FROM = starts, np.inf  # exactly `starts` starts
        try:
            covered, wall, cpu = verdict(old, seed)
        finally:
            mapping._N_INIT, mapping._ONE_START_FROM = saved
        rows.append(
            {
                "fit": label,
                "wall_s": wall,
                "cpu_s": cpu,
                "agreement": float(np.average(covered == ref, weights=w)),
                "coverage": float(np.average(covered, weights=w)),
            }
        )
    return {"scenario": scenario, "distinct": len(U), "rows": rows}


def _scenario_vectors(scenario: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct traffic vectors, their row counts, eval vectors) of a named scenario:
    ``scale<N>`` (this generator, hash embedder) or ``clinc``/``clinc-zipf`` (CLINC150
    scenarios of bench_coverage, seed 0, cached all-MiniLM-L6-v2 vectors)."""
    if scenario.startswith("scale"):
        traffic, evals = make_data(int(scenario[5:]))
        codes, unique = pd.factorize(traffic["text"])
        model = HashEmbedder()
        return model.embed(list(unique)), np.bincount(codes).astype(float), model.embed(evals)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _clinc import clinc_embeddings, coverage_scenario, load_clinc, zipf_scenario

    clinc = load_clinc()
    sc = (
        zipf_scenario(clinc, 0, exponent=1.0)
        if scenario == "clinc-zipf"
        else coverage_scenario(clinc, 0)
    )
    texts, vectors = clinc_embeddings(
        clinc, sc.traffic["text"].tolist() + sc.evals["text"].tolist()
    )
    row_of = {t: i for i, t in enumerate(texts)}
    codes, unique = pd.factorize(sc.traffic["text"])
    E = vectors[[row_of[t] for t in dict.fromkeys(sc.evals["text"])]]
    return vectors[[row_of[t] for t in unique]], np.bincount(codes).astype(float), E


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
    # verbose: its stage lines (on stderr) say how far a run that times out got.
    topic_model = BERTopic(calculate_probabilities=False, verbose=True)
    print(f"{_STAGE_MARK} fit_transform start {time.time():.3f}", file=sys.stderr, flush=True)
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


_STAGE_MARK = "bench_scale:"


def _progress(stderr: str | bytes | None) -> str:
    """How far a BERTopic worker got before its timeout, from its log lines on stderr: each
    stage line it wrote, with the seconds since ``fit_transform`` started."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    start, steps = None, []
    for line in (stderr or "").splitlines():
        if line.startswith(f"{_STAGE_MARK} fit_transform start"):
            start = float(line.split()[-1])
        elif " - BERTopic - " in line and start is not None:
            stamp, _, what = line.split(" - ", 2)
            when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            steps.append(f"{what.strip()} at {max(when - start, 0.0):.0f} s")
    return "; ".join(steps) if steps else "no BERTopic stage logged"


def _subprocess(args: list[str], timeout: float) -> dict | None:
    """Run this script in a child process; None when it exceeds the timeout (a BERTopic
    worker's timeout gives ``{"timeout": ..., "progress": ...}`` instead)."""
    cmd = [sys.executable, __file__, "--worker", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired as exc:
        if args[0] == "bertopic":
            return {"timeout": timeout, "progress": _progress(exc.stderr)}
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


def _median_run(worker_args: list[str], repeats: int, measure) -> dict | None | str:
    """Median (by wall time) of ``repeats`` runs of a worker."""
    runs = [measure(worker_args) for _ in range(repeats)]
    done = [r for r in runs if isinstance(r, dict) and "timeout" not in r]
    if not done:
        return runs[0]
    done.sort(key=lambda r: r["total_s"])
    median = dict(done[len(done) // 2])
    median["repeats"] = len(done)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--bertopic-sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--bertopic-timeout", type=float, default=900.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs (median reported) ...")
    parser.add_argument(
        "--repeat-up-to", type=int, default=100_000, help="... of sizes up to this many rows"
    )
    parser.add_argument(
        "--bertopic-repeats", type=int, default=3, help="BERTopic runs at 10,000 rows (median)"
    )
    parser.add_argument("--default-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--fast-sizes", type=int, nargs="*", default=[])
    parser.add_argument(
        "--cached-sizes",
        type=int,
        nargs="*",
        default=[],
        help="sizes run twice with the hash stand-in's vectors in a fresh embedding cache: "
        "the first run fills it, the second (reported) reads every vector from it",
    )
    parser.add_argument(
        "--dtype-check",
        type=int,
        nargs="*",
        default=[1_000_000],
        help="sizes where float16 verdicts are compared with float32 ones",
    )
    parser.add_argument(
        "--fit-check",
        nargs="*",
        default=["scale100000", "clinc"],
        help="scenarios where the k-means fit is compared with scikit-learn's seeding",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="re-render the tables from the JSON lines a previous run printed; "
        "measurements missing there are shown as not run",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "evalcov":
            result = run_evalcov(int(rest[0]), rest[1], cache_dir=rest[2] if rest[2:] else None)
        elif kind == "dtype":
            result = run_dtype_check(int(rest[0]))
        elif kind == "fit":
            result = run_fit_check(rest[0])
        else:
            result = run_bertopic(int(rest[0]))
        print(json.dumps(result))
        return
    logged = None
    if args.from_json:
        logged = iter(
            json.loads(line)
            for line in args.from_json.read_text().splitlines()
            if line.startswith("{") or line == "null"
        )

    def measure(worker_args: list[str], timeout: float = 7200) -> dict | None | str:
        if logged is not None:
            return next(logged, _NOT_RUN)
        result = _subprocess(worker_args, timeout)
        print(json.dumps(result), flush=True)
        return result

    load_start = os.getloadavg()
    lines = [
        "# Scale: evalcov vs BERTopic",
        "",
        f"Machine: {os.cpu_count()} cores, shared with other jobs (load average 1/5/15 min at "
        f"start {load_start[0]:.1f}/{load_start[1]:.1f}/{load_start[2]:.1f}, at the end "
        "LOAD_END); wall times are inflated by that load, CPU times much less.",
        "Synthetic template traffic, 40% distinct texts, 1,000 eval prompts, `hash` embedder "
        "(cheap, deterministic) unless said otherwise. Each run in a fresh process; sizes up to "
        f"{args.repeat_up_to:,} rows: median of {args.repeats} runs. BLAS/OpenMP threads: "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')} (same for both tools).",
        "",
        "## evalcov: `CoverageAnalyzer.fit` stage by stage (wall s, from `timings_`)",
        "",
        "`assign = exact`: share of 5,000 assigned texts (outside the fit sample) whose cluster",
        "and novelty flag equal an exhaustive float64 computation's.",
        "",
        "`hash model s`: wall seconds inside the `hash` stand-in model's own calls (part of",
        "`embed`); `wall s without it` is the total less them: evalcov's own time (reading",
        "precomputed or cached vectors instead would add its own cost, not measured here).",
        "",
        "| rows | distinct | embedder | held as | read | dedupe | embed | map | measure "
        "| total wall s | hash model s | wall s without it | total CPU s | peak RSS MB "
        "| coverage | clusters | assign = exact |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours: dict[int, dict] = {}
    runs = [(n, "hash") for n in args.sizes] + [(n, "default") for n in args.default_sizes]
    runs += [(n, "fast") for n in args.fast_sizes]
    for n, embedder in runs:
        repeats = args.repeats if n <= args.repeat_up_to and embedder == "hash" else 1
        r = _median_run(["evalcov", str(n), embedder], repeats, measure)
        if not isinstance(r, dict):
            lines.append(f"| {n:,} | - | {embedder} | not run |" + " |" * 13)
            continue
        if embedder == "hash":
            ours[n] = r
        lines.append(_stage_row(r, embedder))
    for n in args.cached_sizes:
        with tempfile.TemporaryDirectory(prefix="evalcov-bench-cache-") as folder:
            fill = measure(["evalcov", str(n), "hash-cached", folder])
            r = measure(["evalcov", str(n), "hash-cached", folder])
        if isinstance(fill, dict):
            lines.append(_stage_row(fill, "hash, filling an empty cache"))
        if isinstance(r, dict):
            lines.append(_stage_row(r, "hash, every vector cached"))
    lines += ["", _growth([ours[n] for n in sorted(ours)]), ""]

    lines += [
        "## Against BERTopic (fit_transform + topics_per_class, same embeddings)",
        "",
        "Same vectors for both. BERTopic runs once per size "
        f"(10,000 rows: median of {args.bertopic_repeats}), with a "
        f"{args.bertopic_timeout:.0f} s timeout.",
        "",
        "| rows | evalcov wall s | evalcov CPU s | evalcov peak MB | BERTopic wall s "
        "| BERTopic CPU s | BERTopic peak MB | BERTopic / evalcov wall | CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    progress: list[str] = []
    for n in args.bertopic_sizes:
        r = ours.get(n)
        our_s = r["total_s"] - r["stages"]["embed"] if r else float("nan")
        # CPU time is per process, not per stage: evalcov's includes its (cheap) embedding.
        our_cpu = r["total_cpu_s"] if r else float("nan")
        our_mb = f"{r['peak_mb']:.0f}" if r else "-"
        b = _median_run(
            ["bertopic", str(n)],
            args.bertopic_repeats if n <= 10_000 else 1,
            lambda a: measure(a, args.bertopic_timeout),
        )
        head = f"| {n:,} | {our_s:.1f} | {our_cpu:.1f} | {our_mb} "
        if b == _NOT_RUN:
            lines.append(head + "| not run | - | - | - | - |")
        elif b is None or "timeout" in b:
            lines.append(
                head + f"| > {args.bertopic_timeout:.0f} (timeout) | - | - "
                f"| > {args.bertopic_timeout / our_s:.1f}x | - |"
            )
            if b:
                progress.append(f"- {n:,} rows, BERTopic before its timeout: {b['progress']}.")
        else:
            lines.append(
                head + f"| {b['total_s']:.1f} | {b['cpu_s']:.1f} | {b['peak_mb']:.0f} "
                f"| {b['total_s'] / our_s:.1f}x | {b['cpu_s'] / our_cpu:.1f}x |"
            )
    lines += [
        "",
        *progress,
        "",
        "evalcov wall s is without the embed stage; evalcov CPU s includes the hash embedding",
        "(CPU time is measured per process), so the CPU ratio is a lower bound.",
        "",
    ]

    if args.dtype_check:
        lines += [
            "## float16 against float32 traffic embeddings",
            "",
            "Same data analyzed with `embedding_dtype='float32'` (exact) and `'float16'`.",
            "",
            "| rows | rows with the same covered flag | coverage float32 | coverage float16 |",
            "|---:|---:|---:|---:|",
        ]
        for n in args.dtype_check:
            d = measure(["dtype", str(n)])
            if isinstance(d, dict):
                lines.append(
                    f"| {n:,} | {_share(d['row_agreement'])} | {d['coverage_ref']:.4f} "
                    f"| {d['coverage']:.4f} |"
                )
        lines.append("")

    if args.fit_check:
        lines += [
            "## The k-means fit: scikit-learn's k-means++ seeding (before) and float32 seeding",
            "",
            "Fit = `TrafficMap.fit` (k-means, topics, novelty threshold, assignment of the rest);",
            "agreement = share of traffic rows whose covered flag equals the one of the fit",
            "before with seed 0. 'before, seed 1' shows how much the verdict moves with the seed.",
            "",
            "| scenario | distinct | fit | wall s | CPU s | row agreement | coverage |",
            "|---|---:|---|---:|---:|---:|---:|",
        ]
        for scenario in args.fit_check:
            f = measure(["fit", scenario])
            if not isinstance(f, dict):
                continue
            for row in f["rows"]:
                lines.append(
                    f"| {scenario} | {f['distinct']:,} | {row['fit']} | {row['wall_s']:.1f} "
                    f"| {row['cpu_s']:.1f} | {_share(row['agreement'])} | {row['coverage']:.4f} |"
                )
        lines.append("")

    end = os.getloadavg()
    text = ("\n".join(lines) + "\n").replace("LOAD_END", f"{end[0]:.1f}/{end[1]:.1f}/{end[2]:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


_STAGE_NAMES = ("read", "dedupe", "embed", "map", "measure")


def _stage_row(r: dict, embedder: str) -> str:
    """One row of the stage table."""
    cells = " | ".join(f"{r['stages'].get(s, float('nan')):.1f}" for s in _STAGE_NAMES)
    return (
        f"| {r['rows']:,} | {r['unique']:,} | {embedder} | {r['dtype']} | {cells} "
        f"| {r['total_s']:.1f} | {_model_cells(r)} "
        f"| {r['total_cpu_s']:.1f} | {r['peak_mb']:.0f} "
        f"| {r['coverage']:.3f} | {r['clusters']} | {_share(r.get('exact_agreement'))} |"
    )


if __name__ == "__main__":
    main()
