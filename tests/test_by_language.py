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
    assert np.isin(split.gaps(None)["analysis"], ["en", "de", "it"]).all()


def test_by_must_be_lang():
    with pytest.raises(ValueError, match='by must be None or "lang"'):
        evalcov.analyze(["a b c"], ["a"], by="language")
