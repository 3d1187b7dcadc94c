"""A synthetic production log with known gaps, at any size: the coverage benchmark's generator.

Like ``bench_scale``'s traffic (the same sentence frames, slot fillers and numbers, 40% distinct
texts, Zipf repeats), but every text knows its topic and topics do not share content words, so
the truth is exact: a row is uncovered when its topic has no eval prompt.

- ``n_topics`` topics, each with its own made-up nouns, verbs and adjectives (pronounceable
  letter strings, unique across topics) and four of ``bench_scale``'s eight frames, so topics
  share function words ("how do i ... my") but no content word;
- topic volumes follow Zipf's law (share of topic r ∝ 1/r^exponent, topics ranked at random),
  and distinct texts are drawn topic by topic in those shares, so a heavy topic also has many
  more distinct texts (phrasings, slot values, numbers), as in production;
- texts repeat with Zipf(1.1) popularity, as in ``bench_scale``;
- the eval set: ``n_covered`` topics drawn at random, ``n_eval`` prompts spread evenly over
  them, from the same generator: prompts are phrasings users also send, and those without a
  number often occur verbatim in the traffic (60% of them at 100k rows).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
from bench_scale import _FRAMES, DIM, _text, repeat_rows

_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"


@dataclass
class GeneratedLog:
    """Traffic (``text``, ``topic``, ``uncovered``), eval prompts (``text``, ``topic``)."""

    traffic: pd.DataFrame
    evals: pd.DataFrame
    covered_topics: np.ndarray
    topics: list[dict]

    @property
    def true_coverage(self) -> float:
        return float(1.0 - self.traffic["uncovered"].mean())


def _words(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        length = rng.choice((2, 3))
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(length))
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


def _topics(n_topics: int, rng: random.Random) -> list[dict]:
    taken: set[str] = set()
    return [
        {
            "n": _words(rng, 3, taken),
            "v": _words(rng, 4, taken),
            "a": _words(rng, 3, taken),
            "frames": rng.sample(_FRAMES, 4),
        }
        for _ in range(n_topics)
    ]


def generate(
    n_rows: int,
    seed: int = 0,
    n_topics: int = 200,
    n_covered: int = 150,
    n_eval: int = 1000,
    unique_share: float = 0.4,
    exponent: float = 0.8,
) -> GeneratedLog:
    """``n_rows`` traffic rows and ``n_eval`` prompts; see the module docstring."""
    rng = random.Random(seed)
    topics = _topics(n_topics, rng)
    nprng = np.random.default_rng(seed)
    shares = 1 / np.arange(1, n_topics + 1) ** exponent
    shares = nprng.permutation(shares / shares.sum())
    n_unique = int(n_rows * unique_share)
    pool: dict[str, int] = {}
    while len(pool) < n_unique:
        for t in nprng.choice(n_topics, size=n_unique - len(pool), p=shares):
            pool.setdefault(_text(topics[t], rng), int(t))
    texts = np.array(list(pool), dtype=object)
    topic_of = np.fromiter(pool.values(), dtype=np.int64, count=len(pool))
    rows = repeat_rows(n_unique, n_rows, nprng)
    covered = np.sort(nprng.choice(n_topics, size=n_covered, replace=False))
    traffic = pd.DataFrame(
        {
            "text": texts[rows],
            "topic": topic_of[rows],
            "uncovered": ~np.isin(topic_of[rows], covered),
        }
    )
    prompts: dict[str, int] = {}
    for i in range(n_eval):
        t = int(covered[i % n_covered])
        text = _text(topics[t], rng)
        while text in prompts:
            text = _text(topics[t], rng)
        prompts[text] = t
    evals = pd.DataFrame({"text": list(prompts), "topic": list(prompts.values())})
    return GeneratedLog(traffic=traffic, evals=evals, covered_topics=covered, topics=topics)


class TopicWordEmbedder:
    """A cheap embedder in which a topic's words are near-synonyms, as meaning is for a real
    model: each word is a fixed random 384-d vector, and a topic's content words also share
    that topic's direction (weight ``synonymy``). A text is the unit-norm sum of its words.
    Frame words and numbers get random vectors only, so frames pull texts of different topics
    together as function words do. Vectorized through a hashing vectorizer, like
    ``bench_scale``'s ``HashEmbedder``.
    """

    name = "topic-words-384@bench-coverage"
    cacheable = False
    batches_internally = True

    def __init__(self, topics: list[dict], synonymy: float = 1.0, seed: int = 0):
        from sklearn.feature_extraction.text import HashingVectorizer

        n_features = 2**17
        self._vectorizer = HashingVectorizer(
            n_features=n_features, alternate_sign=False, norm=None, token_pattern=r"(?u)\b\w+\b"
        )
        rng = np.random.default_rng(seed)
        projection = rng.standard_normal((n_features, DIM)).astype(np.float32)
        directions = rng.standard_normal((len(topics), DIM)).astype(np.float32)
        for t, topic in enumerate(topics):
            words = topic["n"] + topic["v"] + topic["a"]
            buckets = self._vectorizer.transform([" ".join(words)]).indices
            projection[buckets] += synonymy * directions[t]
        self._projection = projection

    def embed(self, texts: list[str]) -> np.ndarray:
        counts = self._vectorizer.transform(texts).astype(np.float32)
        vectors = np.asarray(counts @ self._projection, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
