"""How much of the verdict holds on other maps of the same traffic.

The map is a k-means fit: another ``random_state`` moves its borders, and with them which
fragments of a heavy request hold a prompt. On CLINC150 traffic, uniform and Zipf-shaped, two
analyses that differ only in ``random_state`` share 62-73% of their untested traffic
(traffic-weighted Jaccard, medians over 5 seeds) while their headline coverage differs by
0.8-3 points (``benchmarks/results/coverage_rules.md``). There, gaps that the other maps call
untested too are mostly real gaps, and gaps that they call tested mostly prompt-less
fragments of tested requests (``benchmarks/results/stability.md``); not where a heavy request
is asked in hundreds of spellings, a fragment on every map.

:func:`map_stability` refits the map with other seeds on the report's own embeddings and
claims (nothing is embedded again, the eval set's claims do not depend on the map) and
measures, per cluster or topic of the report, how much of its untested traffic the other
maps also call untested. It is a reading aid, not a second verdict: ``report.coverage``,
``covered`` and ``status`` stay this map's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evalcov.coverage import covered_from_claims

if TYPE_CHECKING:
    from evalcov.report import CoverageReport

__all__ = ["CONFIRMED", "confirmed_clusters", "map_stability"]

# Share of a gap's untested traffic the other maps must also call untested for it to count
# as confirmed: most of it.
CONFIRMED = 0.5


def _other_states(random_state: int, n_maps: int) -> list[int]:
    """Seeds of the other maps: fixed by the report's own, so the table is reproducible."""
    rng = np.random.default_rng([int(random_state), 7919])
    states: list[int] = []
    while len(states) < n_maps:
        s = int(rng.integers(0, 2**31 - 1))
        if s != random_state and s not in states:
            states.append(s)
    return states


def _share(codes: np.ndarray, w: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    total = np.bincount(codes, weights=w, minlength=n)
    got = np.bincount(codes, weights=w * x, minlength=n)
    return np.divide(got, total, out=np.full(n, np.nan), where=total > 0)


def map_stability(report: CoverageReport, n_maps: int = 4, level: str = "topic") -> pd.DataFrame:
    """Untested traffic of the report, judged again on ``n_maps`` maps fitted with other seeds.

    Parameters
    ----------
    report : CoverageReport
        An in-memory report (it holds every distinct text's embedding).
    n_maps : int, default=4
        Other maps to fit. Their seeds are drawn from the report's ``random_state``, so the
        same report gives the same table. Each costs one map fit (the ``map`` stage of
        ``timings_``) and one pass of the coverage rule.
    level : {"topic", "cluster"}, default="topic"
        Rows of the table: the report's topics (what :meth:`~CoverageReport.gaps` lists) or
        its clusters.

    Returns
    -------
    DataFrame
        One row per topic or cluster of the report, in id order: ``topic``, or ``cluster``
        and its ``topic``; ``status`` (the report's), ``traffic_share``, ``untested_here``
        (share of the row's traffic this report calls untested), ``untested_elsewhere``
        (share of the row's traffic the other maps call untested, averaged over them),
        ``confirmed`` (share of the row's *untested* traffic that the other maps also call
        untested; NaN when the row has none). ``attrs`` holds ``coverage_by_map`` (this
        report's coverage, then each other map's), ``random_states`` (the other maps' seeds)
        and ``agreement`` (mean traffic-weighted Jaccard between this report's untested
        traffic and each other map's).

    A gap with ``confirmed`` near 1 is untested whichever way the map is cut. A gap with
    ``confirmed`` near 0 is a fragment that other cuts put with tested traffic: compare it
    with its ``closest_eval`` before writing prompts for it. To label only confirmed gaps,
    pass :func:`confirmed_clusters` to :meth:`~CoverageReport.export_for_labeling`.

    The other maps are fitted once per report and ``n_maps``; later calls reuse them.
    """
    if isinstance(n_maps, bool) or not isinstance(n_maps, (int, np.integer)) or n_maps < 1:
        raise ValueError(f"n_maps must be a positive integer, got {n_maps!r}")
    if level not in ("topic", "cluster"):
        raise ValueError(f"level must be 'topic' or 'cluster', got {level!r}")
    u = report.unique_
    # The other maps are fitted once per report and n_maps: a topic table and a cluster table
    # of the same report (as `evalcov analyze --stability` asks for) share them.
    runs = report.__dict__.setdefault("_stability_runs", {})
    if int(n_maps) not in runs:
        runs[int(n_maps)] = _other_maps(report, int(n_maps))
    elsewhere, coverage, agreement, states = runs[int(n_maps)]
    w = u["weight"].to_numpy(dtype=np.float64)
    here = ~u["covered"].to_numpy(dtype=bool)
    cluster = u["cluster"].to_numpy(dtype=np.int64)
    c = report.clusters.set_index("cluster").sort_index()
    columns: dict[str, np.ndarray] = {}
    if level == "cluster":
        ids, codes, status = c.index.to_numpy(), cluster, c["status"].to_numpy()
        columns["topic"] = c["topic"].to_numpy()
    else:
        t = report.topics.set_index("topic").sort_index()
        ids = t.index.to_numpy()
        codes = np.searchsorted(ids, c["topic"].to_numpy()[cluster])
        status = t["status"].to_numpy()
    n = len(ids)
    total = np.bincount(codes, weights=w, minlength=n)
    out = pd.DataFrame(
        {
            level: ids,
            **columns,
            "status": status,
            "traffic_share": total / w.sum() if w.sum() > 0 else np.zeros(n),
            "untested_here": _share(codes, w, here, n),
            "untested_elsewhere": _share(codes, w, elsewhere, n),
            "confirmed": _share(codes, w * here, elsewhere, n),
        }
    )
    out.attrs["coverage_by_map"] = list(coverage)
    out.attrs["random_states"] = list(states)
    out.attrs["agreement"] = agreement
    return out


def confirmed_clusters(report: CoverageReport, n_maps: int = 4) -> list[int]:
    """The untested clusters most of whose untested traffic (at least :data:`CONFIRMED`) the
    ``n_maps`` other maps of :func:`map_stability` also call untested, in id order (cluster
    0 is the heaviest).

    What a labeling batch of confirmed gaps only is drawn from::

        report.export_for_labeling("batch.csv", clusters=confirmed_clusters(report))
    """
    table = map_stability(report, n_maps=n_maps, level="cluster")
    sure = table[(table["status"] == "uncovered") & (table["confirmed"] >= CONFIRMED)]
    return sure["cluster"].tolist()


def _other_maps(
    report: CoverageReport, n_maps: int
) -> tuple[np.ndarray, list[float], float, list[int]]:
    """Per distinct text, the share of ``n_maps`` other maps that call it untested; the
    coverage of the report and of each other map; the mean Jaccard of their untested traffic
    with the report's; the other maps' seeds."""
    u = report.unique_
    U = report.traffic_embeddings_
    a = report.analyzer_
    w = u["weight"].to_numpy(dtype=np.float64)
    claimed = u["claimed"].to_numpy(dtype=bool)
    here = ~u["covered"].to_numpy(dtype=bool)
    states = _other_states(a.random_state, n_maps)
    elsewhere = np.zeros(len(u))
    coverage = [report.coverage]
    agreement = []
    for state in states:
        tmap = a.new_map(report.eval_base_, random_state=state).fit(U, w)
        covered, _, _ = covered_from_claims(
            claimed,
            tmap.labels_,
            w,
            tmap.assign_labels(report.eval_embeddings_),
            a.covered_share,
            a.thin_share,
            n_base=report.eval_base_,
        )
        there = ~covered
        elsewhere += there
        coverage.append(float((w * covered).sum() / w.sum()) if w.sum() > 0 else 0.0)
        union = (w * (here | there)).sum()
        agreement.append(float((w * (here & there)).sum() / union) if union > 0 else 1.0)
    return elsewhere / len(states), coverage, float(np.mean(agreement)), states
