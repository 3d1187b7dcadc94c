"""Save -> load -> assign on a real CLINC150 report: same clusters, novel traffic, safe format."""

from __future__ import annotations

import io
import json
import zipfile
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import evalcov
from evalcov.persist import FORMAT, FORMAT_VERSION, load, save

INTENTS = ["translate", "weather", "timer", "book_flight", "pay_bill", "alarm", "play_music"]
UNCOVERED = "restaurant_reservation"
NOVEL = "credit_score"
START = pd.Timestamp("2024-03-04", tz="UTC")  # a Monday


@pytest.fixture(scope="module")
def scenario(clinc, tmp_path_factory):
    by_intent: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        for text, intent in clinc[split]:
            by_intent.setdefault(intent, []).append(text)
    rng = np.random.default_rng(0)
    evals = [t for i in INTENTS for t in by_intent[i][:4]]

    def batch(intents, lo, hi, week):
        rows = [(t, i) for i in intents for t in by_intent[i][lo:hi]]
        frame = pd.DataFrame(rows, columns=["text", "intent"])
        offset = pd.to_timedelta(rng.uniform(0, 6.9, len(frame)), unit="D")
        frame["timestamp"] = (START + pd.Timedelta(days=7 * week) + offset).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        return frame

    old = pd.concat(
        [batch(INTENTS + [UNCOVERED], 4, 24, 0), batch(INTENTS + [UNCOVERED], 24, 44, 1)],
        ignore_index=True,
    )
    new = pd.concat(
        [batch(INTENTS + [UNCOVERED], 44, 59, 2), batch([NOVEL], 0, 45, 2)], ignore_index=True
    )
    report = evalcov.analyze(old, evals, text="text", time="timestamp")
    path = save(report, tmp_path_factory.mktemp("map") / "map.zip")
    return SimpleNamespace(old=old, new=new, evals=evals, report=report, path=path)


@pytest.fixture(scope="module")
def loaded(scenario):
    return load(scenario.path)


def test_reassigning_the_original_traffic_gives_the_report_back(scenario, loaded):
    again = loaded.assign(scenario.old, text="text", time="timestamp")
    q, r = again.queries, scenario.report.queries
    np.testing.assert_array_equal(q["cluster"], r["cluster"])
    np.testing.assert_array_equal(q["covered"], r["covered"])
    assert list(q["cluster_label"]) == list(r["cluster_label"])
    assert again.coverage == pytest.approx(scenario.report.coverage)
    assert not q["novel"].any() and q["seen"].all() and again.proposed.empty
    np.testing.assert_array_equal(q["topic"], r["topic"])
    np.testing.assert_allclose(
        again.clusters["traffic_share"], scenario.report.clusters["traffic_share"]
    )


def test_live_report_assign_matches_loaded_map(scenario, loaded):
    live = scenario.report.assign(scenario.new, text="text", time="timestamp")
    cold = loaded.assign(scenario.new, text="text", time="timestamp")
    np.testing.assert_array_equal(live.queries["cluster"], cold.queries["cluster"])
    np.testing.assert_array_equal(live.queries["covered"], cold.queries["covered"])


def test_new_traffic_keeps_cluster_ids_and_novel_intent_is_proposed(scenario, loaded):
    a = loaded.assign(scenario.new, text="text", time="timestamp")
    q = a.queries.assign(intent=scenario.new["intent"])
    report_q = scenario.report.queries.assign(intent=scenario.old["intent"])
    # Unseen queries of known intents land in a cluster their intent had in the report (the
    # map may split an intent in two or three).
    known = q[q["intent"] != NOVEL]
    share = report_q.groupby("intent")["cluster"].value_counts(normalize=True)
    homes = set(share[share >= 0.1].index)
    pairs = zip(known["intent"], known["cluster"], strict=True)
    assert np.mean([pair in homes for pair in pairs]) > 0.9
    assert known["novel"].mean() < 0.1
    novel = q[q["intent"] == NOVEL]
    assert novel["novel"].mean() >= 0.7
    proposed = a.proposed
    assert len(proposed) >= 1
    top = proposed.iloc[0]
    assert top["cluster"] == len(scenario.report.clusters)  # ids continue after the saved ones
    assert top["label"].startswith("new: ") and "credit" in top["label"]
    assert top["status"] == "uncovered" and np.isnan(top["saved_share"])
    assert (novel["cluster"] == top["cluster"]).mean() > 0.7
    assert not q.loc[q["proposed"], "covered"].any()
    assert a.novel_share == pytest.approx(novel["novel"].sum() / len(q), abs=0.02)
    assert "proposed label" in a._repr_html_()


def test_drift_on_old_plus_new_traffic_flags_the_novel_group(scenario, loaded):
    both = loaded.assign(pd.concat([scenario.old, scenario.new]), text="text", time="timestamp")
    d = both.drift(freq="W", baseline=2)
    assert list(d.windows["note"]) == ["baseline", "baseline", ""]
    assert d.windows.loc[2, "novel_share"] > 0.2
    assert d.windows.loc[2, "drifted"]
    top = both.proposed.iloc[0]["cluster"]
    em = d.emerging.set_index("cluster")
    assert top in em.index and em.loc[top, "proposed"] and not em.loc[top, "covered"]
    # Saved clusters keep the saved map's topics; a proposed cluster is a new topic.
    saved_topics = scenario.report.clusters["topic"]
    c = both.clusters
    n_saved = len(saved_topics)
    assert c["topic"].iloc[:n_saved].tolist() == saved_topics.tolist()
    assert em.loc[top, "topic"] == c.loc[c["cluster"] == top, "topic"].item() > saved_topics.max()
    assert c["topic"].iloc[n_saved:].is_unique


def test_file_is_a_zip_of_json_npz_and_parquet_without_pickle(scenario):
    with zipfile.ZipFile(scenario.path) as z:
        assert sorted(z.namelist()) == [
            "arrays.npz",
            "clusters.parquet",
            "evals.parquet",
            "meta.json",
        ]
        meta = json.loads(z.read("meta.json"))
        with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
            assert all(npz[k].dtype != object for k in npz.files)
            assert npz["traffic_digests"].shape == (len(scenario.report.unique_), 16)
        clusters = pd.read_parquet(io.BytesIO(z.read("clusters.parquet")))
        blob = b"".join(z.read(n) for n in z.namelist())
    assert meta["format"] == FORMAT and meta["version"] == FORMAT_VERSION
    assert meta["embedder"] == scenario.report.embedder_.name
    assert meta["embedder_spec"] == "default"
    assert list(clusters["label"]) == list(scenario.report.clusters["label"])
    # No raw traffic text is stored (only redacted cluster examples may quote some).
    examples = {t for ex in scenario.report.clusters["examples"] for t in ex}
    stored = [t for t in scenario.old["text"] if t not in examples]
    assert not any(t.encode() in blob for t in stored[:50])


def test_unknown_version_and_foreign_files_are_refused(scenario, tmp_path):
    bumped = tmp_path / "v99.zip"
    with zipfile.ZipFile(scenario.path) as src, zipfile.ZipFile(bumped, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.json":
                data = json.dumps({**json.loads(data), "version": 99}).encode()
            dst.writestr(name, data)
    with pytest.raises(ValueError, match="format version 99; .* reads version 1"):
        load(bumped)
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an evalcov map file"):
        load(text)
    with pytest.raises(FileNotFoundError, match="no evalcov map file"):
        load(tmp_path / "missing.zip")


def test_embedder_mismatch_and_custom_embedder(scenario, tmp_path):
    other = evalcov.Precomputed(["a"], np.ones((1, 384)), name="other-model")
    with pytest.raises(ValueError, match="embedder mismatch"):
        load(scenario.path, embedder=other)
    # A map saved with a custom embedder cannot be re-created by name: the user passes it.
    path = tmp_path / "custom.zip"
    with zipfile.ZipFile(scenario.path) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.json":
                meta = {**json.loads(data), "embedder": "my-vectors", "embedder_spec": None}
                data = json.dumps(meta).encode()
            dst.writestr(name, data)
    with pytest.raises(ValueError, match="pass it again: evalcov.load"):
        load(path).assign(scenario.old["text"][:5].tolist())
    report = scenario.report
    texts = list(report.unique_["text"]) + list(report.eval_dedup_.texts)
    custom = evalcov.Precomputed(
        texts, np.vstack([report.traffic_embeddings_, report.eval_embeddings_]), name="my-vectors"
    )
    again = load(path, embedder=custom).assign(scenario.old, text="text")
    np.testing.assert_array_equal(again.queries["cluster"], report.queries["cluster"])
