"""Does ``report.stability()`` tell real gaps from prompt-less fragments of tested requests?

The production-shaped CLINC150 scenarios of ``bench_coverage.py --production`` (uniform,
Zipf 0.8 / 1.0 / 1.2, heavy intents paraphrased, 20% of the intents without a prompt; and the
narrow one-domain assistant, once per CLINC domain and seed). For each
scenario and seed, evalcov's default analysis, then ``report.stability(n_maps, level="cluster")``.
Among the clusters the report calls uncovered, a cluster is a *true gap* when most of its
traffic is a held-out intent or out-of-scope, a *false gap* otherwise. Per seed:

- **AUC, confirmed**: how well ``confirmed`` (share of the gap's traffic the other maps also
  call untested) ranks true gaps above false ones, traffic-weighted;
- **AUC, closest_similarity** (baseline, same run): the same for the gap's cosine to its
  closest eval prompt, lower = more likely a true gap (the column the gap list already shows);
- **AUC, both**: the mean of the two ranks;
- **false-gap share, confirmed >= 0.5 / < 0.5**: share of the flagged traffic that is a false
  gap among the gaps other maps mostly confirm, and among those they mostly do not;
- **agreement**: traffic-weighted Jaccard of the untested traffic of this map and each other
  map (mean); **coverage range**: max - min of ``coverage_by_map``; **truth in range**: the
  true coverage lies between the lowest and the highest map's coverage.

Usage::

    python benchmarks/bench_stability.py [--seeds 0 1 2] [--maps 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import bench_coverage as bc  # noqa: E402
from _clinc import OOS, clinc_embeddings, markdown_table, write_page  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "stability.md"


def _auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> float:
    return float(roc_auc_score(y, score, sample_weight=w)) if 0 < y.sum() < len(y) else np.nan


def run(scenario, texts, vectors, n_maps: int) -> dict:
    traffic_text = scenario.traffic["text"].tolist()
    eval_text = scenario.evals["text"].tolist()
    verdict = bc.run_evalcov(
        texts,
        vectors,
        bc.DEFAULT_MODEL,
        traffic_text,
        eval_text,
        scenario.seed,
        show_progress=False,
    )
    report = verdict.report
    t0 = time.perf_counter()
    table = report.stability(n_maps=n_maps, level="cluster")
    seconds = time.perf_counter() - t0
    q = report.queries
    intent = scenario.traffic["intent"].to_numpy()
    is_gap = pd.Series(np.isin(intent, scenario.held_out) | (intent == OOS), index=q.index)
    truth = is_gap.groupby(q["cluster"]).mean()
    gaps = table[table["status"] == "uncovered"].set_index("cluster")
    y = (truth.loc[gaps.index] > 0.5).to_numpy()
    w = q.groupby("cluster").size().loc[gaps.index].to_numpy(dtype=float)
    confirmed = gaps["confirmed"].to_numpy()
    closeness = -report.clusters.set_index("cluster").loc[gaps.index, "closest_similarity"]
    both = rankdata(confirmed) + rankdata(closeness.to_numpy())
    sure = confirmed >= 0.5
    coverage = np.asarray(table.attrs["coverage_by_map"])
    true_coverage = scenario.true_coverage

    def false_share(mask: np.ndarray) -> float:
        return float((w * ~y)[mask].sum() / w[mask].sum()) if w[mask].sum() > 0 else np.nan

    return {
        "AUC, confirmed": _auc(y, confirmed, w),
        "AUC, closest_similarity": _auc(y, closeness.to_numpy(), w),
        "AUC, both": _auc(y, both, w),
        "false-gap share, confirmed >= 0.5": false_share(sure),
        "false-gap share, confirmed < 0.5": false_share(~sure),
        "flagged traffic confirmed >= 0.5": float(w[sure].sum() / w.sum()),
        "agreement": table.attrs["agreement"],
        "coverage range": float(coverage.max() - coverage.min()),
        "truth in range": float(coverage.min() <= true_coverage <= coverage.max()),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--maps", type=int, default=4)
    args = parser.parse_args(argv)
    clinc = bc.load_clinc()
    if clinc is None:
        sys.exit(f"CLINC150 not found at {bc.CLINC_PATH}")
    rows = []
    for name, seed_label, scenario in bc.production_scenarios(clinc, args.seeds):
        traffic_text = scenario.traffic["text"].tolist()
        eval_text = scenario.evals["text"].tolist()
        texts, vectors = clinc_embeddings(clinc, traffic_text + eval_text, bc.DEFAULT_MODEL)
        result = run(scenario, texts, vectors, args.maps)
        rows.append({"scenario": name, "seed": seed_label, **result})
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()})
    write_results(rows, args.seeds, args.maps)


def write_results(rows: list[dict], seeds: list[int], maps: int) -> None:
    """Print the table of ``rows`` (one dict per scenario and seed) and write RESULTS."""
    frame = pd.DataFrame(rows)
    numeric = frame.drop(columns="seed")
    grouped = numeric.groupby("scenario", sort=False)
    median = grouped.median()
    median["truth in range"] = grouped["truth in range"].mean()
    median = median.round(3).reset_index()
    lines = [
        f"# Gap stability across maps ({bc.DEFAULT_MODEL}, `report.stability(n_maps={maps})`)",
        "",
        f"Seeds {seeds}; medians over seeds (`truth in range`: share of seeds). "
        "Seconds: the extra map fits and coverage passes, on one machine shared with other jobs.",
        "",
        markdown_table(median),
        "",
        "Per seed:",
        "",
        markdown_table(frame.round(3)),
        "",
    ]
    write_page(RESULTS, lines)


if __name__ == "__main__":
    main()
