"""The cases to write: prompts redacted, checked against the eval set, with their provenance.

Every addition row comes back in the returned table with a ``status``: ``"added"``, or why it was
not written (a duplicate of a prompt the eval set already has, a repeat of an earlier addition,
an empty text). Provenance says where each case comes from in the traffic, so a reviewer can
see why it is there and join it back to the logs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evalcov.ingest import normalize_text

if TYPE_CHECKING:
    from evalcov.report import CoverageReport

__all__ = ["OUTCOME_COLUMNS", "failed", "prepare_cases", "provenance"]

# Outcome columns a report's queries may carry (the names every reader maps outcomes to).
OUTCOME_COLUMNS = ("error", "feedback")
_NEGATIVE = {"negative", "down", "thumbs_down", "thumbsdown", "bad", "no", "false"}
_NO_ERROR = {"", "false", "0", "none", "null", "nan", "no"}


def prepare_cases(
    additions: Any,
    report: CoverageReport,
    existing: list[str],
    redact: Any = True,
    by: str | None = None,
    max_ids: int = 50,
) -> pd.DataFrame:
    """One row per addition: the text to write, whether it is written, and its provenance.

    Parameters
    ----------
    additions : DataFrame, Series or list of str
        ``report.suggest_additions(...)`` or ``report.export_for_labeling(...)`` (a ``text``
        column; ``input_ids`` is used when present, since a labeling batch is already redacted
        and its texts may no longer match the traffic), or prompts as strings.
    report : CoverageReport
        The report the additions come from: it supplies the provenance.
    existing : list of str
        Prompts the eval set already has (any form; compared after :func:`normalize_text`).
    redact : bool, str, callable or Redactor, default=True
        PII redaction of the written texts and topic names (see
        :func:`evalcov.redact.get_redactor`).
    by : str, optional
        Column of ``report.queries`` that names the topic: ``"topic"`` when the report has one,
        else ``"cluster"``. Its name is read from ``<by>_label`` when present.
    max_ids : int, default=50
        Most traffic query ids listed per case (``n_queries`` counts them all).

    Returns
    -------
    DataFrame
        ``text`` (as written), ``status``, ``query_ids``, ``n_queries``, ``topic``,
        ``topic_name``, ``traffic_share``, ``topic_share`` and, when the queries carry
        outcomes, ``failure_rate`` (of the topic's traffic with a known outcome).
    """
    from evalcov.redact import get_redactor

    if isinstance(max_ids, bool) or not isinstance(max_ids, (int, np.integer)) or max_ids < 0:
        raise ValueError(f"max_ids must be an integer >= 0, got {max_ids!r}")
    raw, input_ids = _read_additions(additions)
    by = _topic_column(report, by)
    q = report.queries
    positions = _traffic_rows(report, raw, input_ids)
    ok = ~q["excluded"].to_numpy(dtype=bool)
    weight = np.where(ok, q["weight"].to_numpy(dtype=np.float64), 0.0)
    total = weight.sum()
    topic_of = q[by].to_numpy()
    name_col = f"{by}_label"
    names = q[name_col].to_numpy(dtype=object) if name_col in q.columns else topic_of
    fail, known = _outcomes(q)
    ids = q["id"].astype(str).to_numpy(dtype=object)

    topics, topic_names, shares, topic_shares, rates, id_lists, counts = [], [], [], [], [], [], []
    for rows in positions:
        rows = rows[ok[rows]]
        counts.append(int(len(rows)))
        id_lists.append([str(v) for v in ids[rows[:max_ids]]])
        shares.append(float(weight[rows].sum() / total) if total > 0 else 0.0)
        if len(rows) == 0:
            topics.append(None)
            topic_names.append(None)
            topic_shares.append(None)
            rates.append(None)
            continue
        # A distinct text sits in one topic; its first row names it.
        topic = topic_of[rows[0]]
        in_topic = ok & (topic_of == topic)
        topics.append(_plain(topic))
        topic_names.append(str(names[rows[0]]))
        topic_shares.append(float(weight[in_topic].sum() / total) if total > 0 else 0.0)
        if fail is None:
            rates.append(None)
        else:
            w_known = (weight * (in_topic & known)).sum()
            rate = (weight * (in_topic & known & fail)).sum() / w_known if w_known > 0 else None
            rates.append(None if rate is None else float(rate))

    redactor = get_redactor(redact)
    named = [i for i, n in enumerate(topic_names) if n is not None]
    cleaned = redactor.redact(raw + [topic_names[i] for i in named]) if raw else []
    texts = [normalize_text(t) for t in cleaned[: len(raw)]]
    for i, name in zip(named, cleaned[len(raw) :], strict=True):
        topic_names[i] = name

    present = {normalize_text(t) for t in existing}
    added: set[str] = set()
    status = []
    for text in texts:
        if not text:
            status.append("empty text")
        elif text in present:
            status.append("duplicate of an eval prompt")
        elif text in added:
            status.append("repeated in additions")
        else:
            status.append("added")
            added.add(text)
    cases = pd.DataFrame(
        {
            "text": texts,
            "status": status,
            "query_ids": id_lists,
            "n_queries": counts,
            # object columns: a case without traffic rows has None, which must not turn ids
            # into floats
            "topic": pd.Series(topics, dtype=object),
            "topic_name": pd.Series(topic_names, dtype=object),
            "traffic_share": shares,
            "topic_share": pd.Series(topic_shares, dtype=object),
        }
    )
    if fail is not None:
        cases["failure_rate"] = pd.Series(rates, dtype=object)
    return cases


def provenance(case: Any) -> dict[str, Any]:
    """The metadata written with one case (a row of :func:`prepare_cases`)."""
    meta = {
        "source": "evalcov",
        "query_ids": list(case.query_ids),
        "n_queries": int(case.n_queries),
        "topic": case.topic,
        "topic_name": case.topic_name,
        "traffic_share": case.traffic_share,
        "topic_share": case.topic_share,
    }
    if hasattr(case, "failure_rate"):
        rate = case.failure_rate
        meta["failure_rate"] = None if rate is None or _isnan(rate) else float(rate)
    return meta


def failed(error: Any, feedback: Any) -> tuple[bool, bool]:
    """(failed, known) for one query from its ``error`` and ``feedback`` values.

    An error counts when it is set (True, a non-zero number, a message). Feedback counts as a
    failure when it is negative: a number <= 0 (thumbs down as 0 or -1), False, or a word such
    as "negative", "down", "bad". Missing values are unknown.
    """
    results = []
    for value, judge in ((error, _is_error), (feedback, _is_negative)):
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            continue
        results.append(judge(value))
    return any(results), bool(results)


# ----------------------------------------------------------------------------- helpers


def _read_additions(additions: Any) -> tuple[list[str], list[list[str]] | None]:
    input_ids = None
    if isinstance(additions, pd.DataFrame):
        if "text" not in additions.columns:
            raise ValueError(
                "additions: a DataFrame needs a 'text' column (as suggest_additions and "
                f"export_for_labeling return); columns present: {list(map(str, additions.columns))}"
            )
        if "input_ids" in additions.columns:
            input_ids = [[str(v) for v in ids] for ids in additions["input_ids"]]
        values = additions["text"].tolist()
    elif isinstance(additions, (pd.Series, list, tuple)):
        values = list(additions)
    else:
        raise TypeError(
            "additions must be a DataFrame with a 'text' column, a Series or a list of str; "
            f"got {type(additions).__name__}"
        )
    bad = [(i, v) for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        raise TypeError(
            f"additions: texts must be str; row(s) {[i for i, _ in bad[:5]]} hold "
            f"{sorted({type(v).__name__ for _, v in bad})}"
        )
    return [normalize_text(v) for v in values], input_ids


def _topic_column(report: CoverageReport, by: str | None) -> str:
    q = report.queries
    if by is None:
        return "topic" if "topic" in q.columns else "cluster"
    if by not in q.columns:
        raise ValueError(f"by: report.queries has no column {by!r}; give 'cluster' or 'topic'")
    return by


def _traffic_rows(
    report: CoverageReport, texts: list[str], input_ids: list[list[str]] | None
) -> list[np.ndarray]:
    """Positions in ``report.queries`` of the traffic rows each addition stands for."""
    if input_ids is not None:
        where: dict[str, list[int]] = {}
        for pos, value in enumerate(report.queries["id"].astype(str)):
            where.setdefault(value, []).append(pos)
        return [
            np.array(sorted({p for i in ids for p in where.get(i, [])}), dtype=np.int64)
            for ids in input_ids
        ]
    index = {t: i for i, t in enumerate(report.traffic_dedup_.texts)}
    empty = np.zeros(0, dtype=np.int64)
    return [report.traffic_dedup_.rows_of(index[t]) if t in index else empty for t in texts]


def _outcomes(q: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray]:
    present = [c for c in OUTCOME_COLUMNS if c in q.columns]
    if not present:
        return None, np.zeros(len(q), dtype=bool)
    error = q["error"].tolist() if "error" in q.columns else [None] * len(q)
    feedback = q["feedback"].tolist() if "feedback" in q.columns else [None] * len(q)
    pairs = [failed(e, f) for e, f in zip(error, feedback, strict=True)]
    return np.array([p[0] for p in pairs], dtype=bool), np.array([p[1] for p in pairs], dtype=bool)


def _is_error(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value != 0
    return str(value).strip().lower() not in _NO_ERROR


def _is_negative(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return not value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value <= 0
    return str(value).strip().lower() in _NEGATIVE


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
