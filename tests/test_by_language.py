"""by="lang": one analysis per language of mixed real traffic (xSID), combined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalcov


def _xsid(shared_data, lang: str) -> list[tuple[str, str]]:
    path = shared_data / "xsid" / f"{lang}.test.conll"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    rows = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        header = {}
        for line in block.splitlines():
            key, _, value = line.partition("=")
            header[key.strip()] = value.strip()
        if "# text" in header:
            rows.append((header["# text"], header["# intent"]))
    return rows


@pytest.fixture(scope="module")
def mixed(shared_data):
    parts = {lang: _xsid(shared_data, lang)[:90] for lang in ("en", "de", "it")}
    rows = [(t, i, lang) for lang, part in parts.items() for t, i in part]
    rows.append(("   ", "none", "none"))
    traffic = pd.DataFrame(rows, columns=["text", "intent", "true_lang"])
    traffic = traffic.sample(frac=1.0, random_state=0).reset_index(drop=True)
    # English prompts of every intent but weather: a fully known gap in every language.
    en = pd.DataFrame(_xsid(shared_data, "en")[200:], columns=["text", "intent"])
    evals = en[~en["intent"].str.startswith("weather")].groupby("intent").head(3)["text"]
    return traffic, list(evals)


def test_each_language_gets_its_own_analysis_and_every_row_comes_back(mixed):
    traffic, evals = mixed
    split = evalcov.analyze(traffic, evals, text="text", by="lang", min_rows=30)
    assert sorted(split.reports) == ["de", "en", "it"]
    q = split.queries
    assert len(q) == len(traffic)
    assert q["text"].tolist()[:5] == [
        evalcov.ingest.normalize_text(t) for t in traffic["text"].tolist()[:5]
    ]
    blank = traffic.index[traffic["true_lang"] == "none"][0]
    assert q.loc[blank, "excluded"] and pd.isna(q.loc[blank, "analysis"])
    kept = q[~q["excluded"]]
    assert (kept["analysis"] == traffic.loc[kept.index, "true_lang"]).mean() >= 0.95
    assert (kept["cluster"] >= 0).all()
    # Cluster numbers are unique across languages and labels say the language.
    c = split.clusters
    assert c["cluster"].tolist() == list(range(len(c)))
    assert c["label"].str.match(r"^\[(en|de|it)\] ").all()
    assert c["traffic_share"].sum() == pytest.approx(1.0)
    coverage = sum(split.shares_[k] * r.coverage for k, r in split.reports.items())
    assert split.coverage == pytest.approx(coverage)
    assert split.summary()["languages"]["de"]["share"] == pytest.approx(1 / 3, abs=0.05)
    # Each language's report equals analyzing that language alone.
    de_rows = kept[kept["analysis"] == "de"]
    alone = evalcov.analyze(de_rows[["text"]].reset_index(drop=True), evals, text="text")
    assert alone.coverage == pytest.approx(split.reports["de"].coverage)
    assert "Top gaps" in split._repr_html_()


def test_gaps_are_every_languages_untested_topics_in_one_numbering(mixed):
    traffic, evals = mixed
    split = evalcov.analyze(traffic, evals, text="text", by="lang", min_rows=30)
    gaps = split.gaps(None)
    assert np.isin(gaps["analysis"], ["en", "de", "it"]).all()
    # A gap is untested traffic: thin topics are tested, and every untested share is listed,
    # so the gaps add up to all the traffic the eval set leaves uncovered.
    assert (gaps["uncovered_share"] > 0).all() and (gaps["status"] != "thin").all()
    assert gaps["uncovered_share"].sum() == pytest.approx(1 - split.coverage)
    assert gaps["uncovered_share"].is_monotonic_decreasing
    per_language = sum(len(r.gaps(None)) for r in split.reports.values())
    assert len(gaps) == per_language == split.summary()["n_gaps"]
    # Topics and clusters are numbered across languages, in the gap rows and the query rows.
    c, q = split.clusters, split.queries
    assert c.groupby("topic")["analysis"].nunique().max() == 1
    assert split.summary()["n_topics"] == c["topic"].nunique()
    for g in gaps.itertuples():
        assert c.loc[c["cluster"] == g.cluster, "topic"].item() == g.topic
        assert set(c.loc[c["topic"] == g.topic, "cluster"]) == set(g.clusters)
        assert g.label.startswith(f"[{g.analysis}] ")
    kept = q[~q["excluded"]]
    pairs = kept[["cluster", "topic"]].drop_duplicates()
    topic_of = c.set_index("cluster")["topic"]
    assert (pairs["topic"].to_numpy() == topic_of.loc[pairs["cluster"]].to_numpy()).all()
    assert kept["topic_label"].str.match(r"^\[(en|de|it)\] ").all()
    by_cluster = split.gaps(None, level="cluster")
    assert (by_cluster["status"] == "uncovered").all()
    assert by_cluster["uncovered_share"].sum() == pytest.approx(1 - split.coverage)


def test_by_must_be_lang():
    with pytest.raises(ValueError, match='by must be None or "lang"'):
        evalcov.analyze(["a b c"], ["a"], by="language")
