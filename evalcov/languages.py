"""Which language each query is in, offline, and whether the embedder understands it.

Detection uses ``py3langid`` (a maintained fork of langid.py whose naive Bayes model ships in
the package). Short queries ("stop alarm", "set alarm for 6 am") are where per-text
detectors fail: alone, they read as Turkish or Danish. Traffic mostly speaks a few
languages, so the traffic's own language mix is used as a prior: a few rounds of EM
re-weight each text's language probabilities by the traffic-weighted share of each language,
which fixes those short queries without overriding a clearly foreign one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from evalcov._cpus import usable_cpus
from evalcov._half import probabilities_to_float16, probabilities_to_float32

__all__ = [
    "EMBEDDER_LANGUAGES",
    "UNDETERMINED",
    "detect_languages",
    "embedder_languages",
    "language_table",
    "languages_present",
    "mark_language_bins",
    "unsupported_warning",
]

UNDETERMINED = "und"

# Languages the detector may answer. The model knows ~140 labels, many of them dialects or
# languages with little text online (Nigerian Pidgin, Ligurian, Latin, Volapuk, ...) that
# short English or Italian queries fall into by chance; keeping the ISO 639-1 languages with
# large online populations removes those false positives (xSID English 87.6% -> 95.6% before
# the prior).
_CANDIDATES = (
    "af am ar as az be bg bn bs ca cs da de el en es et eu fa fi fr gl gu ha he hi hr hu hy "
    "id ig is it ja jv ka kk km kn ko ku ky lg ln lo lt lv mg mk ml mn mr ms my ne nl no om "
    "or pa pl ps pt ro ru si sk sl so sq sr sv sw ta te th tl tr ug uk ur uz vi xh yo zh zu"
).split()

# Languages each built-in embedder was trained for. all-MiniLM-L6-v2 was trained on English
# pairs only; USE multilingual v3 lists 16 languages (zh-cn and zh-tw are both "zh" here).
EMBEDDER_LANGUAGES: dict[str, frozenset[str]] = {
    "all-MiniLM-L6-v2": frozenset({"en"}),
    "use-multilingual-v3": frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split()),
}

_PRIOR_ROUNDS = 5
# Texts whose bytes step through the detector's DFA together.
_LANG_CHUNK = 8192
# Texts scored at once by detect_languages (a 37 MB score matrix).
_LANG_BLOCK = 65536
# Blocks scored at once, on threads (None: the CPUs this process may use).
_LANG_THREADS: int | None = None
# Texts the detector is this sure of skip the full ranking (a third of the cost per text).
_SURE = 0.999
# Most texts hold an ASCII letter: found by one regex scan, before the per-character test.
_ASCII_LETTER = re.compile("[A-Za-z]")


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid import langid

    ident = langid.LanguageIdentifier.from_modelpath(
        langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
    )
    ident.set_languages(_CANDIDATES)
    return ident


def detect_languages(texts: Sequence[str], weights: np.ndarray | None = None) -> np.ndarray:
    """ISO 639-1 code of each text's language; ``"und"`` for texts without letters.

    Parameters
    ----------
    texts : sequence of str
    weights : array of shape (len(texts),), optional
        Traffic weight of each text (default 1); the language prior is traffic-weighted.

    Returns
    -------
    ndarray of str, shape (len(texts),)
    """
    n = len(texts)
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {weights.shape}")
    out = np.full(n, UNDETERMINED, dtype=object)
    has_letters = np.fromiter(
        (_ASCII_LETTER.search(t) is not None or any(ch.isalpha() for ch in t) for t in texts),
        dtype=bool,
        count=n,
    )
    rows = np.flatnonzero(has_letters)
    if len(rows) == 0:
        return out
    ident = _identifier()
    langs = list(dict.fromkeys(_CANDIDATES))
    column = {lang: j for j, lang in enumerate(langs)}
    # Each label's first column holds its score (aliases are folded into it), as in rank().
    first = list(dict.fromkeys(ident.nb_classes))
    # The detector's score column of each candidate language (all of them are its labels).
    source = np.full(len(langs), -1, dtype=np.int64)
    source[[column[lang] for lang in first if lang in column]] = [
        ident.nb_classes.index(lang) for lang in first if lang in column
    ]
    if (source < 0).any():  # set_languages keeps exactly the candidates; never expected
        raise RuntimeError("the language detector lacks some candidate languages")
    language_of_class = np.array([column.get(label, -1) for label in ident.nb_classes])
    # Texts the detector is sure of keep only their language (their probabilities are one-hot),
    # the others the languages that can still win (see _kept): memory follows the unsure
    # texts' plausible languages, not (n, languages) matrices (four million texts held 4.4 GB
    # of them as float64, 0.7 GB as dense float16).
    sure_lang = np.full(len(rows), -1, dtype=np.int16)
    unsure_blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    kept_ratio = _kept_ratio(len(langs))
    place = np.int32 if len(rows) < 2**31 else np.int64  # a text's place in ``rows``

    def score(start: int) -> tuple[int, np.ndarray, np.ndarray, tuple]:
        block = rows[start : start + _LANG_BLOCK]
        scores = _batch_scores(ident, [texts[r] for r in block])
        best = scores.argmax(axis=1)
        is_sure = scores[np.arange(len(block)), best] >= _SURE
        sure, unsure = np.flatnonzero(is_sure), np.flatnonzero(~is_sure)
        probs = np.take(scores[unsure], source, axis=1)
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), np.float32(1e-30))
        return start, sure, best[sure], ((start + unsure).astype(place), *_kept(probs, kept_ratio))

    starts = range(0, len(rows), _LANG_BLOCK)
    _model_arrays()  # built once here, not by two threads at once
    # Blocks are independent and numpy releases the GIL in most of their work; results are
    # taken in block order, so the output does not depend on the thread count.
    with ThreadPoolExecutor(min(_LANG_THREADS or usable_cpus(), len(starts))) as pool:
        for start, sure, best, unsure in pool.map(score, starts):
            sure_lang[start + sure] = language_of_class[best]
            unsure_blocks.append(unsure)
    w = weights[rows] / max(weights[rows].sum(), 1e-300)
    is_sure = sure_lang >= 0
    sure_mass = np.bincount(sure_lang[is_sure], weights=w[is_sure], minlength=len(langs))
    prior = np.full(len(langs), 1.0 / len(langs))
    for _ in range(_PRIOR_ROUNDS):
        mass = sure_mass.astype(np.float64)  # a copy; float even when no text is sure
        # Only the posteriors' traffic-weighted sum is needed, a block at a time:
        # sum_i w_i p_i*prior / (p_i.prior) is prior * sum_i (w_i / p_i.prior) p_i.
        for unsure, count, col, value in unsure_blocks:
            row = np.repeat(np.arange(len(unsure)), count)
            p = probabilities_to_float32(value)
            norm = np.bincount(row, weights=p * prior[col], minlength=len(unsure))
            scale = w[unsure] / np.maximum(norm, 1e-30)
            mass += prior * np.bincount(col, weights=p * scale[row], minlength=len(langs))
        # A floor keeps every language possible: a prior of zero could never be revised.
        # (A one-hot row's posterior is itself under any prior with that floor.)
        prior = 0.99 * mass + 0.01 / len(langs)
    chosen = sure_lang
    for unsure, count, col, value in unsure_blocks:
        post = probabilities_to_float32(value) * prior[col]
        chosen[unsure] = col[_first_max(post, np.repeat(np.arange(len(unsure)), count))]
    out[rows] = np.asarray(langs, dtype=object)[chosen]
    return out


def _kept_ratio(n_langs: int) -> float:
    """Below this share of its text's most probable language, a language cannot win.

    The prior is floored at ``0.01 / n_langs`` and at most 1, so a language whose probability
    is under ``0.01 / n_langs`` times the top one's loses to it under any prior the rounds
    can reach. Dropping those keeps ~17 of 89 values per short text (synthetic English
    queries), and changes the prior's mass by less than that share per text.
    """
    return 0.01 / n_langs


def _kept(probs: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The probabilities that are at least ``ratio`` times their row's maximum, row by row
    (columns ascending): how many each row keeps, their language columns, their float16
    values. Three bytes a kept value and one a row, where the dense float16 row took two
    bytes a language."""
    keep = probs >= probs.max(axis=1, keepdims=True) * np.float32(ratio)
    small = np.uint8 if probs.shape[1] < 256 else np.int16
    count = keep.sum(axis=1).astype(small)
    col = np.nonzero(keep)[1].astype(small)
    return count, col, probabilities_to_float16(probs[keep])


def _first_max(values: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Per row (``row`` sorted), the position in ``values`` of its largest value; the first
    on ties, as ``argmax`` on the dense row picks the lowest column."""
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    top = np.maximum.reduceat(values, starts) if len(values) else values
    at = np.flatnonzero(values == top[row])
    first = np.unique(row[at], return_index=True)[1]
    return at[first]


@lru_cache(maxsize=1)
def _model_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The detector's DFA (next state, row offsets, feature per state) and its naive Bayes
    table over the candidate languages, as numpy arrays."""
    ident = _identifier()
    nextmove = np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode))
    return (
        nextmove.astype(np.int32),
        np.asarray(ident._rowbase, dtype=np.int32),
        np.asarray(ident.tk_output, dtype=np.int32),
        # C order: scipy copies a Fortran-ordered operand (35 MB here) on every product.
        np.ascontiguousarray(ident.nb_ptc, dtype=np.float32),
    )


def _batch_scores(ident: Any, texts: Sequence[str]) -> np.ndarray:
    """py3langid's normalized class probabilities (``ident._decide``) for many texts at once.

    Same model and arithmetic as the library's per-text path, vectorized: the byte DFA steps
    every text of a length-sorted chunk together, and the naive Bayes scores are one sparse
    product. Per text, the library's Python loop over bytes cost about a millisecond: 400
    seconds for the 400,000 distinct texts of a million rows.
    """
    from scipy import sparse

    nextmove, rowbase, output, table = _model_arrays()
    encoded = [ident._encode(t) for t in texts]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    scores = np.empty((len(texts), len(ident.nb_classes)), dtype=np.float32)
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), _LANG_CHUNK):
        chunk = order[start : start + _LANG_CHUNK]
        active = lengths[chunk]
        width = int(active[0]) if len(chunk) else 0
        flat = np.frombuffer(b"".join(encoded[r] for r in chunk), dtype=np.uint8)
        # Each text's bytes along its row (a row-major mask takes them in text order), then
        # position-major, so each step reads one contiguous row.
        padded = np.zeros((len(chunk), max(width, 1)), dtype=np.int32)
        padded[np.arange(padded.shape[1]) < active[:, None]] = flat
        data = np.ascontiguousarray(padded.T)
        state = np.zeros(len(chunk), dtype=np.int32)
        hit_rows, hit_features = [], []
        for pos in range(width):
            # Lengths descend, so the texts still being read are a prefix of the chunk.
            m = int(np.searchsorted(-active, -pos, side="left"))
            state[:m] = nextmove[rowbase[state[:m]] + data[pos, :m]]
            f = output[state[:m]]
            hit = np.flatnonzero(f >= 0)
            hit_rows.append(hit)
            hit_features.append(f[hit])
        # Each (text, feature) pair once with its count, features in order within a text:
        # the canonical CSR matrix that summing duplicate COO entries gives, from one sort.
        pairs = np.empty(0, dtype=np.int64)
        if hit_rows:
            pairs = np.concatenate(hit_rows).astype(np.int64) * len(table)
            pairs += np.concatenate(hit_features)
            pairs.sort()
        first = np.flatnonzero(np.diff(pairs, prepend=-1))
        n_hits = np.diff(first, append=len(pairs)).astype(np.float32)
        text_of = pairs[first] // len(table)
        feature = (pairs[first] - text_of * len(table)).astype(np.int32)
        indptr = np.cumsum(np.bincount(text_of, minlength=len(chunk)))
        indptr = np.concatenate([[0], indptr]).astype(np.int32)
        counts = sparse.csr_matrix(
            (np.log1p(n_hits), feature, indptr), shape=(len(chunk), len(table))
        )
        raw = np.asarray(counts @ table, dtype=np.float32) + ident.nb_pc
        # No feature at all: a uniform score (the library's 0.0 under norm_probs).
        raw[np.diff(counts.indptr) == 0] = 0.0
        raw *= (1.0 / np.sqrt(np.maximum(lengths[chunk], 1)))[:, None]
        # Floored where exp would give float32 subnormals (< 1e-38), whose arithmetic is
        # several times slower; such probabilities are 0 once stored as float16 anyway.
        raw = np.exp(np.maximum(raw - raw.max(axis=1, keepdims=True), np.float32(-80.0)))
        raw /= raw.sum(axis=1, keepdims=True)
        for i, j in ident._alias_pairs:
            raw[:, i] += raw[:, j]
            raw[:, j] = 0.0
        scores[chunk] = raw
    return scores


def embedder_languages(embedder: Any) -> frozenset[str] | None:
    """Languages ``embedder`` was trained for, or None when evalcov does not know them."""
    declared = getattr(embedder, "languages", None)
    if declared is not None:
        return frozenset(declared)
    name = str(getattr(embedder, "name", ""))
    for prefix, langs in EMBEDDER_LANGUAGES.items():
        if name.startswith(prefix):
            return langs
    return None


def language_table(lang: np.ndarray, weights: np.ndarray, covered: np.ndarray) -> pd.DataFrame:
    """Traffic share and coverage per language, heaviest first.

    Returns
    -------
    DataFrame with columns ``lang``, ``n_unique``, ``traffic_share``, ``coverage``.
    """
    frame = pd.DataFrame(
        {
            "lang": np.asarray(lang, dtype=object),
            "weight": np.asarray(weights, dtype=float),
            "covered_weight": np.asarray(weights, dtype=float) * np.asarray(covered, dtype=bool),
        }
    )
    table = frame.groupby("lang", sort=True).agg(
        n_unique=("weight", "size"), weight=("weight", "sum"), covered=("covered_weight", "sum")
    )
    total = max(float(frame["weight"].sum()), 1e-300)
    table["traffic_share"] = table["weight"] / total
    table["coverage"] = table["covered"] / table["weight"].where(table["weight"] > 0)
    table = table.reset_index().sort_values(["traffic_share", "lang"], ascending=[False, True])
    return table[["lang", "n_unique", "traffic_share", "coverage"]].reset_index(drop=True)


def unsupported_warning(
    languages: dict[str, dict[str, float]],
    supported: frozenset[str] | None,
    embedder_name: str,
    threshold: float = 0.02,
) -> str | None:
    """A plain warning when over ``threshold`` of traffic is in languages the embedder lacks.

    ``languages`` is ``summary()["languages"]`` (lang -> {"share", "coverage"}). Returns None
    when the share is below the threshold or the embedder's languages are unknown.
    """
    if supported is None:
        return None
    other = {
        lang: v["share"]
        for lang, v in languages.items()
        if lang not in supported and lang != UNDETERMINED
    }
    share = sum(other.values())
    if share <= threshold:
        return None
    heaviest = sorted(other.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{lang} {s:.1%}" for lang, s in heaviest)
    return (
        f"{share:.1%} of the traffic is in languages the embedder {embedder_name!r} was not "
        f"trained for ({listed}): their queries group by language rather than by topic. "
        'Analyze with embedder="multilingual" (pip install "evalcov[multilingual]"), or '
        'each language on its own with by="lang".'
    )


def languages_present(
    lang: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    min_share: float = 0.005,
    min_group_share: float = 0.3,
) -> list[str]:
    """Languages with at least ``min_share`` of the traffic or ``min_group_share`` of one
    group's traffic: those whose stop words names must avoid. A stray misdetected query
    does not bring in its language's stop words (which are content words elsewhere)."""
    lang = np.asarray(lang, dtype=object)
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=float)
    frame = pd.DataFrame({"lang": lang, "group": labels, "weight": weights})
    frame = frame[frame["lang"] != UNDETERMINED]
    if frame.empty:
        return []
    overall = frame.groupby("lang")["weight"].sum() / max(frame["weight"].sum(), 1e-300)
    per_group = frame.groupby(["group", "lang"])["weight"].sum()
    group_share = per_group / per_group.groupby(level="group").transform("sum")
    keep = set(overall.index[overall >= min_share])
    dominant = group_share.to_numpy() >= min_group_share
    keep |= set(group_share.index.get_level_values("lang")[dominant])
    return sorted(keep)


def mark_language_bins(
    names: list[str],
    lang: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    supported: frozenset[str] | None,
    min_share: float = 0.6,
) -> list[str]:
    """Prefix ``"[es] "`` to the name of each group whose traffic is mostly (``min_share``) in
    a language the embedder was not trained for: such a group gathers that language's
    queries whatever they ask, so its name describes only part of it."""
    if supported is None:
        return list(names)
    frame = pd.DataFrame({"lang": lang, "group": labels, "weight": weights})
    per_group = frame.groupby(["group", "lang"])["weight"].sum()
    share = per_group / per_group.groupby(level="group").transform("sum")
    out = list(names)
    for (group, code), s in share.items():
        if s >= min_share and code not in supported and code != UNDETERMINED:
            out[int(group)] = f"[{code}] {out[int(group)]}"
    return out
