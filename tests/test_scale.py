"""One machine at scale: a map fitted on a sample agrees with the full fit, assignment does not
depend on how traffic is batched, and fit's split into sample/assign/order is exact.

Real CLINC150 queries embedded with the real default model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import evalcov
from evalcov.mapping import TrafficMap

# Far-apart intents: the map should find the same groups whichever subset it is fitted on.
INTENTS = ["translate", "weather", "book_flight", "pin_change", "alarm", "recipe"]
COVERED = INTENTS[:4]


@pytest.fixture(scope="module")
def data(clinc):
    by_intent: dict[str, list[str]] = {}
    for text, intent in clinc["train"]:
        by_intent.setdefault(intent, []).append(text)
    texts = [t for intent in INTENTS for t in by_intent[intent][:80]]
    rng = np.random.default_rng(0)
    # ~40% distinct rows, as in production logs: popular texts repeat.
    repeats = rng.choice(len(texts), size=int(len(texts) * 1.5), p=_zipf(len(texts)))
    traffic = pd.DataFrame({"text": [texts[i] for i in rng.permutation(np.r_[:480, repeats])]})
    evals = [t for intent in COVERED for t in by_intent[intent][80:85]]
    return traffic, evals


def _zipf(n: int) -> np.ndarray:
    p = 1 / np.arange(1, n + 1)
    return p / p.sum()


@pytest.fixture(scope="module")
def reports(data):
    traffic, evals = data
    # Granularity is pinned to the six intents: with more clusters than topics, k-means
    # splits an intent along arbitrary lines that differ between any two fits.
    full = evalcov.analyze(traffic, evals, max_fit=20_000, n_clusters=6)
    sampled = evalcov.analyze(traffic, evals, max_fit=240, n_clusters=6)
    return full, sampled


def test_sample_fit_matches_full_fit(reports):
    full, sampled = reports
    assert len(full.unique_) == 480
    assert len(sampled.map_.fit_index_) == 240 < len(sampled.unique_)
    # k-means sees half the points, so its centres move: identical ids for every text cannot
    # be promised (border texts may change sides), the same grouping of separated topics can.
    ari = adjusted_rand_score(full.unique_["cluster"], sampled.unique_["cluster"])
    assert ari >= 0.9
    assert abs(full.coverage - sampled.coverage) <= 0.01
    assert 0 < full.coverage < 1


def test_sampled_map_assigns_every_text(reports):
    _, sampled = reports
    u = sampled.unique_
    assert (u["cluster"] >= 0).all() and len(u) == 480
    rest = np.setdiff1d(np.arange(len(u)), sampled.map_.fit_index_)
    assert not u["outlier"].to_numpy()[rest].any()
    # A fitted text keeps the label the fit gave it.
    np.testing.assert_array_equal(
        u["cluster"].to_numpy()[sampled.map_.fit_index_], sampled.map_.fit_labels_
    )


def test_assignment_does_not_depend_on_batching(reports):
    _, sampled = reports
    X = sampled.traffic_embeddings_
    whole = sampled.map_.assign(X)
    parts = [sampled.map_.assign(X[i : i + 37]) for i in range(0, len(X), 37)]
    np.testing.assert_array_equal(whole.labels, np.concatenate([p.labels for p in parts]))
    np.testing.assert_array_equal(whole.novel, np.concatenate([p.novel for p in parts]))
    np.testing.assert_allclose(
        whole.similarity, np.concatenate([p.similarity for p in parts]), atol=1e-6
    )
    reversed_ = sampled.map_.assign(X[::-1])
    np.testing.assert_array_equal(whole.labels, reversed_.labels[::-1])


def test_fit_is_sample_fit_then_assign_then_order(reports):
    full, _ = reports
    X = full.traffic_embeddings_
    w = full.unique_["weight"].to_numpy()
    kw = {"reducer": None, "max_fit": 200, "random_state": 3}
    whole = TrafficMap(**kw).fit(X, w)

    pieces = TrafficMap(**kw)
    index = pieces.sample_index(len(X))
    pieces.fit_sample(X[index], len(X))
    labels = pieces.assign(X).labels
    labels[index] = pieces.fit_labels_
    remap = pieces.order_clusters(np.bincount(labels, weights=w, minlength=pieces.n_clusters_))
    np.testing.assert_array_equal(remap[labels], whole.labels_)
    np.testing.assert_array_equal(pieces.fit_labels_, whole.fit_labels_)
    assert pieces.novelty_threshold_ == whole.novelty_threshold_
    with pytest.raises(ValueError, match="Xf has 5 rows"):
        TrafficMap(**kw).fit_sample(X[:5], len(X))


def test_large_reference_uses_the_cell_index_consistently(reports, monkeypatch):
    # Above _EXACT_MAX_REF fitted texts, assignment searches a cell index instead of all of
    # them; shrink the limit so that the real fitted sample here takes that path.
    import evalcov.mapping as mapping

    _, sampled = reports
    X = sampled.traffic_embeddings_
    # The index changes the neighbour vote of density maps and, for every map, the similarity
    # to the nearest fitted text: both are checked on a copy of the map that votes.
    exact = TrafficMap.from_state(sampled.map_.get_state() | {"assign_by": "vote"}).assign(X)
    monkeypatch.setattr(mapping, "_EXACT_MAX_REF", 50)
    indexed_map = TrafficMap.from_state(sampled.map_.get_state() | {"assign_by": "vote"})
    indexed = indexed_map.assign(X)
    assert indexed_map._reference_index() is not None
    assert np.mean(indexed.labels == exact.labels) >= 0.98
    # The nearest fitted text is found or a close second: similarities barely drop.
    assert np.all(indexed.similarity <= exact.similarity + 1e-5)
    assert np.median(exact.similarity - indexed.similarity) <= 1e-6
    # Batch independence and a reload hold on this path too.
    parts = [indexed_map.assign(X[i : i + 37]).labels for i in range(0, len(X), 37)]
    np.testing.assert_array_equal(indexed.labels, np.concatenate(parts))
    reloaded = TrafficMap.from_state(indexed_map.get_state()).assign(X[::-1])
    np.testing.assert_array_equal(indexed.labels, reloaded.labels[::-1])


def test_kmeans_map_assigns_by_nearest_centre(reports):
    full, sampled = reports
    m = sampled.map_
    assert m.assign_by_ == "centroid" and m.get_state()["assign_by"] == "centroid"
    # Its own fitted texts land where k-means put them, and a reload assigns the same way.
    assert (m.assign(m.fit_embeddings_).labels == m.fit_labels_).mean() >= 0.99
    X = full.traffic_embeddings_
    np.testing.assert_array_equal(
        TrafficMap.from_state(m.get_state()).assign(X).labels, m.assign(X).labels
    )
    # Labels alone (what fit and the Dask path use) skip the neighbour vote, same answer.
    np.testing.assert_array_equal(m.assign_labels(X), m.assign(X).labels)
    voting = TrafficMap.from_state(m.get_state() | {"assign_by": "vote"})
    np.testing.assert_array_equal(voting.assign_labels(X), voting.assign(X).labels)
    with pytest.raises(ValueError, match="assign_by"):
        TrafficMap.from_state(m.get_state() | {"assign_by": "nearest"})


def test_exact_neighbour_graph_for_umap_matches_brute_force(reports):
    # Above 4096 fitted texts the map hands UMAP this graph instead of letting pynndescent
    # search one; it must be the true cosine kNN with each text first at distance 0.
    from sklearn.neighbors import NearestNeighbors

    from evalcov.mapping import _exact_knn

    X = reports[0].traffic_embeddings_
    index, dist = _exact_knn(X, 10)
    assert (index[:, 0] == np.arange(len(X))).all() and (dist[:, 0] == 0).all()
    assert (np.diff(dist, axis=1) >= 0).all()
    ref_dist, ref_index = NearestNeighbors(n_neighbors=10, metric="cosine").fit(X).kneighbors(X)
    np.testing.assert_allclose(dist[:, 1:], ref_dist[:, 1:], atol=1e-5)
    # Ties aside, the same neighbours.
    same = (index[:, 1:] == ref_index[:, 1:]).mean()
    assert same > 0.99


def test_map_with_precomputed_neighbour_graph_matches_umaps_own(reports, monkeypatch):
    import evalcov.mapping as mapping

    X = reports[0].traffic_embeddings_
    kw = {"reducer": "umap", "clusterer": "hdbscan", "min_cluster_size": 30}
    own = TrafficMap(**kw).fit(X).labels_
    monkeypatch.setattr(mapping, "_UMAP_EXACT_BELOW", 100)  # take the precomputed path
    ours = TrafficMap(**kw).fit(X).labels_
    assert adjusted_rand_score(own, ours) > 0.9


def test_one_pass_nearest_and_claims_equal_the_separate_passes(reports):
    from evalcov.coverage import (
        claimed_mask,
        nearest_and_claimed,
        nearest_and_claims,
        nearest_eval,
        widen_claims,
    )

    full = reports[0]
    U, E = full.traffic_embeddings_, full.eval_embeddings_
    radii, sim, idx, claimed = nearest_and_claims(U, E, full.claim_k_)
    ref_sim, ref_idx = nearest_eval(U, E)
    np.testing.assert_array_equal(sim, ref_sim)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(claimed, claimed_mask(U, E, radii))
    # With known radii (a saved map, added prompts), the other one-pass function agrees.
    again = nearest_and_claimed(U, E, radii)
    for a, b in zip(again, (sim, idx, claimed), strict=True):
        np.testing.assert_array_equal(a, b)
    # The report widens the crowded prompts' radii to its reach similarity; the claims it
    # derives from the nearest similarity equal a pass with the widened radii (what a saved
    # map keeps and the Dask path uses).
    wide, wide_claimed = widen_claims(radii, sim, claimed, full.reach_similarity_)
    np.testing.assert_array_equal(wide_claimed, full.unique_["claimed"].to_numpy())
    np.testing.assert_array_equal(full.claim_radii_, wide)
    np.testing.assert_array_equal(wide_claimed, claimed_mask(U, E, wide))
    assert np.isfinite(full.reach_similarity_) and (wide < radii).any()
    assert 0 < claimed.mean() <= wide_claimed.mean() < 1


@pytest.mark.parametrize("block", [7, 4096])
def test_claim_radii_and_claims_are_exact(reports, monkeypatch, block):
    # One pass keeps a candidate buffer per prompt and drops what falls below its k-th best
    # so far; a tiny block makes buffers fill and compact many times. Rows repeated 20 times
    # tie at the k-th place (more ties than a buffer has spare room: it must widen), and ties
    # count as in a sort.
    import evalcov.coverage as coverage

    full = reports[0]
    U, E = full.traffic_embeddings_, full.eval_embeddings_
    U = np.concatenate([U, *[U[:50]] * 20])
    monkeypatch.setattr(coverage, "_BLOCK", block)
    # The same products as the function's (float32 rounding depends on a product's shape).
    sims = np.concatenate([U[i : i + block] @ E.T for i in range(0, len(U), block)])
    ranked = np.sort(sims, axis=0)[::-1]
    for k in (1, 3, 40, full.claim_k_, len(U) - 1, len(U), len(U) + 5):
        radii, sim, idx, claimed = coverage.nearest_and_claims(U, E, k)
        np.testing.assert_array_equal(radii, ranked[min(k, len(U)) - 1])
        np.testing.assert_array_equal(claimed, (sims >= radii - 1e-6).any(axis=1))
        np.testing.assert_array_equal(sim, sims.max(axis=1))
        np.testing.assert_array_equal(idx, sims.argmax(axis=1))
        np.testing.assert_array_equal(coverage.claim_radii(E, U, k), radii)


def test_float16_conversions_give_numpys_bits():
    # Embedding blocks are narrowed and widened through torch when it is loaded (numpy's
    # software conversion is slower): the bits must be numpy's, read-only arrays included.
    pytest.importorskip("torch")  # loaded: the torch path is the one checked
    from evalcov._half import to_float16, to_float32

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**32, 1_000_000, dtype=np.uint32).view(np.float32)
    x = x[np.isfinite(x) & (np.abs(x) < 65_000)]  # what float16 can hold; plus subnormals:
    x = np.concatenate([x, np.float32([0.0, -0.0, 1e-8, -3e-6, 6.1e-5, 2**-24, 2**-25])])
    half = to_float16(x)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half.view(np.uint16), x.astype(np.float16).view(np.uint16))
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    every = every[np.isfinite(every)]
    np.testing.assert_array_equal(to_float32(every), every.astype(np.float32))
    frozen = every.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(to_float32(frozen), every.astype(np.float32))
    assert to_float32(x) is x  # float32 passes through


def test_float16_bit_arithmetic_gives_numpys_bits(monkeypatch):
    # Without torch, embeddings are narrowed and widened by bit arithmetic: numpy's bits for
    # every float16 and for float32 values around every float16 rounding boundary; values
    # float16 cannot hold (and infinity, NaN) go through numpy.
    from evalcov import _half

    monkeypatch.setattr(_half, "_torch", lambda: None)
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    wide = every.astype(np.float32)
    np.testing.assert_array_equal(_half.to_float32(every).view(np.uint32), wide.view(np.uint32))
    finite = every[np.isfinite(every)]
    np.testing.assert_array_equal(_half.to_float32(finite), finite.astype(np.float32))
    np.testing.assert_array_equal(_half.probabilities_to_float32(finite), finite.astype(np.float32))
    values = finite.astype(np.float32)
    midpoints = ((values[:-1].astype(np.float64) + values[1:]) / 2).astype(np.float32)
    near = np.concatenate([values, midpoints])
    x = np.concatenate([near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf)])
    x = x.astype(np.float32).reshape(-1, 3)
    np.testing.assert_array_equal(
        _half.to_float16(x).view(np.uint16), x.astype(np.float16).view(np.uint16)
    )
    with np.errstate(over="ignore"):
        big = np.float32([1.0, -2.5, 65520.0, 1e9, np.inf, -np.inf, np.nan])
        np.testing.assert_array_equal(
            _half.to_float16(big).view(np.uint16), big.astype(np.float16).view(np.uint16)
        )


def test_float16_traffic_embeddings_give_the_same_verdicts(data, reports):
    traffic, evals = data
    full, _ = reports
    half = evalcov.analyze(traffic, evals, max_fit=20_000, n_clusters=6, embedding_dtype="float16")
    assert half.traffic_embeddings_.dtype == np.float16
    assert full.traffic_embeddings_.dtype == np.float32
    # A float16 vector is within 5e-4 of its float32 one: same clusters, claims and verdicts.
    assert (half.unique_["cluster"].to_numpy() == full.unique_["cluster"].to_numpy()).all()
    assert (half.queries["covered"].to_numpy() == full.queries["covered"].to_numpy()).all()
    assert half.coverage == full.coverage
    np.testing.assert_allclose(half.unique_["similarity"], full.unique_["similarity"], atol=2e-3)


def test_float16_analysis_fits_its_map_on_the_exact_float32_sample(data, monkeypatch):
    # k-means turns float16 rounding into other clusters at scale, so the analyzer keeps the
    # fit sample's float32 rows while it holds the rest as float16. Small blocks and a fit
    # sample of part of the texts exercise picking those rows out of several blocks.
    import evalcov.analyzer as analyzer_module

    traffic, evals = data
    monkeypatch.setattr(analyzer_module, "_HALF_BLOCK", 97)
    kw = {"max_fit": 300, "n_clusters": 6, "show_progress": False}
    half = evalcov.CoverageAnalyzer(embedding_dtype="float16", **kw).fit(traffic, evals)
    full = evalcov.CoverageAnalyzer(embedding_dtype="float32", **kw).fit(traffic, evals)
    U32 = full.report_.traffic_embeddings_
    assert half.report_.traffic_embeddings_.dtype == np.float16
    assert len(U32) > 300 and len(half.map_.fit_index_) == 300
    np.testing.assert_array_equal(half.map_.fit_index_, full.map_.fit_index_)
    np.testing.assert_array_equal(half.map_.fit_embeddings_, U32[full.map_.fit_index_])
    # The rounded rows differ from them: without the exact rows the fit would see others.
    rounded = U32[full.map_.fit_index_].astype(np.float16).astype(np.float32)
    assert not np.array_equal(rounded, half.map_.fit_embeddings_)
    np.testing.assert_array_equal(half.map_.labels_, full.map_.labels_)


def test_fit_rows_must_match_the_sample(reports):
    X = reports[0].traffic_embeddings_
    m = TrafficMap(n_clusters=6, max_fit=240, random_state=0)
    with pytest.raises(ValueError, match=r"fit_rows must have shape \(240, 384\)"):
        m.fit(X.astype(np.float16), fit_rows=X[:10])


def test_map_fits_float16_rows_as_their_float32_values(reports):
    full, _ = reports
    X16 = full.traffic_embeddings_.astype(np.float16)
    a = TrafficMap(n_clusters=6, max_fit=240, random_state=0).fit(X16)
    b = TrafficMap(n_clusters=6, max_fit=240, random_state=0).fit(X16.astype(np.float32))
    assert (a.labels_ == b.labels_).all()
    assert a.fit_embeddings_.dtype == np.float32


def test_embedding_dtype_is_checked(data):
    traffic, evals = data
    with pytest.raises(ValueError, match="embedding_dtype"):
        evalcov.analyze(traffic, evals, embedding_dtype="int8")


def test_fit_times_and_announces_each_stage(data, caplog):
    traffic, evals = data
    analyzer = evalcov.CoverageAnalyzer(n_clusters=6, show_progress=False)
    with caplog.at_level("INFO", logger="evalcov.stages"):
        analyzer.fit(traffic, evals)
    stages = ["read", "dedupe", "embed", "map", "measure"]
    assert list(analyzer.timings_) == stages
    assert all(seconds >= 0 for seconds in analyzer.timings_.values())
    done = [
        r.getMessage().split(" done in ")[0] for r in caplog.records if " done in " in r.message
    ]
    assert done == stages
    assert "dedupe: 1,200 traffic rows" in caplog.messages
