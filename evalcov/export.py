"""Export gap queries for labelers: choose real uncovered queries, redact them, write a file.

``export_for_labeling`` answers "which production queries should people label so the eval set
covers what users ask?". It splits the batch across the report's gaps (thin and uncovered
clusters) in proportion to the traffic each leaves uncovered, picks inside each gap among its
uncovered distinct queries, redacts PII in one pass and writes CSV, JSONL, Parquet, Label
Studio tasks or Argilla records atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evalcov._files import atomic_write
from evalcov.safe_csv import write_csv
from evalcov.selection import allocate, farthest_first, weighted_sample

if TYPE_CHECKING:
    from evalcov.report import CoverageReport

__all__ = ["FORMATS", "STRATEGIES", "export_for_labeling", "query_id", "write_batch"]

FORMATS = ("csv", "jsonl", "parquet", "label-studio", "argilla")
STRATEGIES = ("diverse", "proportional", "random", "risk")
_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def query_id(text: str) -> str:
    """Stable id of a normalized query text: ``"q-"`` + the first 12 hex digits of its SHA-1.

    The same text gets the same id in every export and in :func:`evalcov.refresh.suggest_additions`,
    so labeled files can be joined back to traffic across runs.
    """
    return "q-" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def export_for_labeling(
    report: CoverageReport,
    path: str | os.PathLike | None = None,
    n: int = 200,
    strategy: str = "diverse",
    clusters: Sequence[int] | None = None,
    redact: Any = True,
    format: str | None = None,  # noqa: A002 - public keyword, mirrors pandas' writers
    overwrite: bool = False,
    min_users: int | None = None,
    random_state: int | None = None,
    min_per_gap: int = 1,
    neutralize_formulas: bool = True,
    response: bool = False,
) -> pd.DataFrame:
    """Pick up to ``n`` real uncovered queries from the report's gaps for people to label.

    Selection: the budget is split across the gaps (``report.gaps(n=None)``) in proportion to
    the traffic each leaves uncovered, at least ``min_per_gap`` each (biggest gaps first when
    the budget cannot give every gap its floor; largest-remainder rounding; a gap with fewer
    candidates than its share hands the rest to the others). A gap's candidates are the
    distinct queries of all its untested clusters (a topic split into several clusters is
    one gap) that have positive weight.

    Parameters
    ----------
    report : CoverageReport
    path : str or path-like, optional
        File to write. None only returns the batch.
    n : int, default=200
        Most queries in the batch (fewer when the gaps hold fewer distinct candidates, or
        ``"diverse"`` runs out of non-near-duplicates).
    strategy : {"diverse", "proportional", "random"}, default="diverse"
        ``"diverse"``: farthest-first (k-center) picks inside each gap, seeded by the query
        nearest the gap's traffic-weighted centroid; a query with cosine >= 0.95 to one
        already picked is skipped. Deterministic. ``"proportional"``: inside each gap, draw
        without replacement with probability proportional to traffic weight. ``"random"``:
        uniform over all candidates of the selected gaps, ignoring the split (a baseline).
        ``"risk"`` (needs failure outcomes): the budget follows the failures instead of the
        traffic -- split across the gaps in proportion to ``untested_failures`` (gaps in
        ``gaps(by="risk")`` order), and inside a gap farthest-first among its uncovered
        queries that failed, weighted by failed traffic (all its uncovered queries when none
        failed).
    clusters : sequence of int, optional
        Only these cluster ids, each its own gap in the split (each must be untested, as
        listed by ``report.gaps(n=None, level="cluster")``: a tested cluster has nothing to
        label).
    redact : bool, str, callable or Redactor, default=True
        PII redaction of ``text``, ``nearest_eval`` and ``cluster_label``, in one call so a
        value keeps one placeholder across the batch. False/None opts out; a name, callable
        or object is passed to :func:`evalcov.redact.get_redactor`.
    format : {"csv", "jsonl", "parquet", "label-studio", "argilla"}, optional
        File format. Default: from the extension of ``path`` (.csv, .jsonl/.ndjson,
        .parquet/.pq), else CSV. ``.json`` is ambiguous (Label Studio or Argilla) and must be
        named explicitly. See :func:`write_batch` for each layout.
    overwrite : bool, default=False
        Replace an existing file; otherwise FileExistsError.
    min_users : int, optional
        Never export a cluster whose traffic comes from fewer than ``min_users`` distinct
        users (k-anonymity at the cluster level; needs ``user=`` at ingestion). Skipped
        clusters are listed in ``batch.attrs["skipped_clusters"]``.
    random_state : int, optional
        Seed of ``"proportional"`` and ``"random"``; default: the report's random_state.
    min_per_gap : int, default=1
        Floor of the budget split.
    neutralize_formulas : bool, default=True
        In CSV files, put a ``'`` before text cells that start with ``=``, ``+``, ``-``,
        ``@``, a tab or a carriage return, so a spreadsheet shows them as text instead of
        running them as formulas (:mod:`evalcov.safe_csv`). False writes the exact text.
        Other formats always keep the exact text; the returned frame is never changed.
    response : bool, default=False
        Also carry the traffic's ``response`` column (the model's answer, redacted like the
        text). Off by default: answers are not needed to write an eval prompt and may quote
        users' or internal data.

    Returns
    -------
    DataFrame
        The batch as written, one row per distinct query, grouped by gap (largest uncovered
        traffic first) in pick order: ``id`` (:func:`query_id`), ``text``, ``cluster``,
        ``cluster_label``, ``status`` (of the cluster), ``similarity`` (cosine to the nearest
        eval prompt), ``nearest_eval``, ``count`` (input rows with this text), ``weight``,
        ``n_users`` (when users are known), ``first_seen``/``last_seen`` (when times are
        known; UTC), ``input_ids`` (list of the input rows' ``id``), then the outcomes of the
        query's input rows when the traffic has them (see
        :func:`evalcov.outcomes.text_outcomes`: ``failure_rate``, ``error``, ``feedback``,
        ``latency_s``, ``cost``, ``score_<name>``) and ``response`` when asked.
    """
    _check_int(n, "n", 0)
    _check_int(min_per_gap, "min_per_gap", 0)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    fmt = _resolve_format(path, format)
    from evalcov.redact import get_redactor

    redactor = get_redactor(redact)
    if response and "response" not in report.queries.columns:
        raise ValueError("response=True: the traffic has no 'response' column")
    by = "risk" if strategy == "risk" else "traffic"
    if clusters is None:
        gaps = report.gaps(n=None, by=by)
        # A topic's gap row stands for all of its untested clusters.
        untested = set(report.clusters.loc[report.clusters["status"] == "uncovered", "cluster"])
        members = [[c for c in ids if c in untested] for ids in gaps["clusters"]]
    else:
        gaps = _restrict(report, report.gaps(n=None, level="cluster", by=by), clusters)
        members = [[c] for c in gaps["cluster"]]
    skipped: list[int] = []
    if min_users is not None:
        _check_int(min_users, "min_users", 1)
        gaps, members, skipped = _apply_min_users(report, gaps, members, min_users)
    seed = report.analyzer_.random_state if random_state is None else random_state
    picks = _select(report, gaps, members, n, strategy, np.random.default_rng(seed), min_per_gap)
    batch = _batch_frame(report, picks, redactor, response)
    batch.attrs["skipped_clusters"] = skipped
    if path is not None:
        write_batch(
            batch, path, format=fmt, overwrite=overwrite, neutralize_formulas=neutralize_formulas
        )
    return batch


# ------------------------------------------------------------------------- selection


def _check_int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _restrict(report: CoverageReport, gaps: pd.DataFrame, clusters: Sequence[int]) -> pd.DataFrame:
    """The rows of ``gaps`` (one per untested cluster) for the wanted cluster ids."""
    if isinstance(clusters, (int, np.integer)):
        clusters = [int(clusters)]
    wanted = list(dict.fromkeys(int(c) for c in clusters))
    known = set(report.clusters["cluster"].tolist())
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(
            f"clusters: unknown cluster id(s) {unknown}; the report has clusters "
            f"0..{len(known) - 1}"
        )
    not_gaps = [c for c in wanted if c not in set(gaps["cluster"].tolist())]
    if not_gaps:
        raise ValueError(
            f"clusters: {not_gaps} are tested (covered or thin), so they hold no uncovered "
            f"query to label; pick gap clusters from report.gaps(n=None, level='cluster')"
        )
    return gaps[gaps["cluster"].isin(wanted)].reset_index(drop=True)


def _apply_min_users(
    report: CoverageReport, gaps: pd.DataFrame, members: list[list[int]], min_users: int
) -> tuple[pd.DataFrame, list[list[int]], list[int]]:
    """Drop the untested clusters whose traffic comes from fewer than ``min_users`` users,
    and the gaps left with none; returns the kept gaps, their clusters and the skipped ones."""
    q = report.queries
    if "user" not in q.columns:
        raise ValueError(
            "min_users needs to know who sent each query: pass user=<column> to analyze(); "
            "the report has no 'user' column"
        )
    kept = q[~q["excluded"] & q["user"].notna()]
    users = kept.groupby("cluster")["user"].nunique()
    skipped = [int(c) for ids in members for c in ids if users.get(c, 0) < min_users]
    members = [[c for c in ids if users.get(c, 0) >= min_users] for ids in members]
    keep = np.array([len(ids) > 0 for ids in members], dtype=bool)
    return (
        gaps[keep].reset_index(drop=True),
        [ids for ids, k in zip(members, keep, strict=True) if k],
        skipped,
    )


def _select(
    report: CoverageReport,
    gaps: pd.DataFrame,
    members: list[list[int]],
    n: int,
    strategy: str,
    rng: np.random.Generator,
    min_per_gap: int,
) -> np.ndarray:
    """Rows of ``report.unique_`` to export, grouped by gap in pick order."""
    u = report.unique_
    candidate = ~u["covered"].to_numpy(dtype=bool) & (u["weight"].to_numpy() > 0)
    labels = u["cluster"].to_numpy()
    weights = u["weight"].to_numpy(dtype=np.float64)
    pools = [np.flatnonzero(candidate & np.isin(labels, ids)) for ids in members]
    shares = gaps["uncovered_share"].to_numpy()
    if strategy == "risk":
        from evalcov.outcomes import text_outcomes

        failed = text_outcomes(report.queries, report.traffic_dedup_.codes, len(u))
        weights = failed["failed_weight"].to_numpy()
        # Label what fails: a gap's failed queries, or all of its queries when none failed.
        pools = [p[weights[p] > 0] if (weights[p] > 0).any() else p for p in pools]
        weights = np.where(weights > 0, weights, 1e-9 * u["weight"].to_numpy(dtype=np.float64))
        shares = gaps["untested_failures"].to_numpy()
    if strategy == "random":
        pool = np.concatenate(pools) if pools else np.zeros(0, dtype=np.int64)
        take = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
        chosen = pool[np.sort(take)]
        # Grouped by gap like the other strategies, so files read the same way.
        order = {c: i for i, ids in enumerate(members) for c in ids}
        return chosen[np.argsort([order[c] for c in labels[chosen]], kind="stable")]
    capacity = np.array([len(p) for p in pools], dtype=np.int64)
    quota = allocate(n, shares, capacity, min_per_gap)
    X = report.traffic_embeddings_
    out: list[np.ndarray] = []
    for pool, k in zip(pools, quota, strict=True):
        if k == 0:
            continue
        if strategy in ("diverse", "risk"):
            picked = X[np.concatenate(out)] if out else None
            rows = pool[farthest_first(X[pool], k, weights[pool], picked)]
        else:
            rows = pool[weighted_sample(weights[pool], k, rng)]
        out.append(rows)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _batch_frame(
    report: CoverageReport, rows: np.ndarray, redactor: Any, response: bool = False
) -> pd.DataFrame:
    u = report.unique_.iloc[rows]
    clusters = report.clusters.set_index("cluster")
    eval_texts = np.asarray(report.eval_dedup_.texts, dtype=object)
    q = report.queries
    texts = u["text"].tolist()
    labels = clusters.loc[u["cluster"], "label"].astype(str).tolist()
    nearest = eval_texts[u["nearest_eval"].to_numpy()].tolist()
    redacted = redactor.redact(texts + nearest + labels) if len(rows) else []
    m = len(rows)
    batch = pd.DataFrame(
        {
            "id": [query_id(t) for t in texts],
            "text": redacted[:m],
            "cluster": u["cluster"].to_numpy(dtype=np.int64),
            "cluster_label": redacted[2 * m :],
            "status": clusters.loc[u["cluster"], "status"].tolist(),
            "similarity": u["similarity"].to_numpy(dtype=np.float64),
            "nearest_eval": redacted[m : 2 * m],
            "count": u["count"].to_numpy(dtype=np.int64),
            "weight": u["weight"].to_numpy(dtype=np.float64),
        }
    )
    input_rows = [report.traffic_dedup_.rows_of(int(i)) for i in rows]
    if "user" in q.columns:
        user = q["user"].to_numpy(dtype=object)
        batch["n_users"] = [int(pd.Series(user[r]).nunique()) for r in input_rows]
    if "time" in q.columns:
        time = q["time"]
        batch["first_seen"] = pd.Series([time.iloc[r].min() for r in input_rows], dtype=time.dtype)
        batch["last_seen"] = pd.Series([time.iloc[r].max() for r in input_rows], dtype=time.dtype)
    ids = q["id"].to_numpy(dtype=object)
    batch["input_ids"] = [[str(v) for v in ids[r]] for r in input_rows]
    from evalcov.outcomes import text_outcomes

    outcomes = text_outcomes(q, report.traffic_dedup_.codes, len(report.unique_))
    for col in outcomes.columns.drop("failed_weight", errors="ignore"):
        batch[col] = outcomes[col].to_numpy()[rows]
    if response:
        # One answer per distinct query (its first input row's), redacted like the text.
        answers = q["response"].to_numpy(dtype=object)
        first = ["" if pd.isna(answers[r[0]]) else str(answers[r[0]]) for r in input_rows]
        batch["response"] = redactor.redact(first) if first else []
    return batch


# --------------------------------------------------------------------------- writing


def _resolve_format(path: Any, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        return fmt
    if path is None:
        return "csv"
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix == ".json":
        raise ValueError(
            f"format: {os.fspath(path)!r} ends in .json, which could be Label Studio tasks or "
            "Argilla records; pass format='label-studio' or format='argilla'"
        )
    return _EXTENSIONS.get(suffix, "csv")


def write_batch(
    batch: pd.DataFrame,
    path: str | os.PathLike,
    format: str = "csv",  # noqa: A002 - public keyword, mirrors pandas' writers
    overwrite: bool = False,
    neutralize_formulas: bool = True,
) -> Path:
    """Write a labeling batch atomically: a temporary file in the same folder, then a rename.

    An interrupted write leaves neither a partial target nor the temporary file.

    Layouts (UTF-8 everywhere):

    - ``"csv"``: one row per query, RFC 4180 quoting (commas, quotes and newlines survive),
      ``input_ids`` as a JSON list string, times as ISO 8601. With ``neutralize_formulas``
      (the default) a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
      return (or ``'``) gets a ``'`` in front so spreadsheets never run it as a formula;
      :func:`evalcov.safe_csv.restore_cell` gives the exact text back.
    - ``"jsonl"``: one JSON object per line with the batch columns; ``input_ids`` a list.
    - ``"parquet"``: the frame as is (``input_ids`` a list column).
    - ``"label-studio"``: a JSON list of tasks ``{"data": {...}, "meta": {...}}`` importable
      as is (Label Studio's basic JSON task format). ``data`` holds ``text`` (use
      ``<Text name="text" value="$text"/>`` in the labeling config) and the scalar columns
      (``query_id``, ``cluster``, ``cluster_label``, ``status``, ``similarity``,
      ``nearest_eval``, ``count``, ``weight``, ...); ``meta`` holds ``query_id`` and
      ``input_ids``. The task-level ``id`` is reserved by Label Studio and left unset.
    - ``"argilla"``: a JSON list of Argilla 2.x records ``{"id", "fields", "metadata"}``:
      ``fields`` holds ``text`` and ``nearest_eval`` (define them as ``rg.TextField`` in
      the dataset settings), ``metadata`` the other columns; load with
      ``[rg.Record(**r) for r in json.load(f)]`` and ``dataset.records.log(...)``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(os.fspath(path))
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"path: folder {str(folder)!r} does not exist")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"path: {str(path)!r} already exists; pass overwrite=True to replace it"
        )
    writer = _WRITERS[format]
    if format == "csv" and not neutralize_formulas:
        writer = _write_raw_csv
    with atomic_write(path, overwrite=overwrite) as f:
        writer(batch, f)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    return value


def _records(batch: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(batch.columns)
    return [
        {c: _jsonable(v) for c, v in zip(cols, row, strict=True)}
        for row in batch.itertuples(index=False, name=None)
    ]


def _dump_json(obj: Any, f: Any) -> None:
    f.write(json.dumps(obj, ensure_ascii=False, indent=1).encode("utf-8"))


def _write_csv(batch: pd.DataFrame, f: Any, neutralize: bool = True) -> None:
    out = batch.copy()
    if "input_ids" in out.columns:
        out["input_ids"] = [json.dumps(list(v), ensure_ascii=False) for v in out["input_ids"]]
    for c in ("first_seen", "last_seen"):
        if c in out.columns:
            out[c] = [_jsonable(v) for v in out[c]]
    write_csv(out, f, neutralize=neutralize)


def _write_raw_csv(batch: pd.DataFrame, f: Any) -> None:
    _write_csv(batch, f, neutralize=False)


def _write_jsonl(batch: pd.DataFrame, f: Any) -> None:
    for record in _records(batch):
        f.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")


def _write_parquet(batch: pd.DataFrame, f: Any) -> None:
    batch.to_parquet(f, index=False)


def _write_label_studio(batch: pd.DataFrame, f: Any) -> None:
    tasks = []
    for r in _records(batch):
        input_ids = r.pop("input_ids", [])
        qid = r.pop("id")
        data = {"text": r.pop("text"), "query_id": qid, **r}
        tasks.append({"data": data, "meta": {"query_id": qid, "input_ids": input_ids}})
    _dump_json(tasks, f)


def _write_argilla(batch: pd.DataFrame, f: Any) -> None:
    records = []
    for r in _records(batch):
        record_id = r.pop("id")
        fields = {"text": r.pop("text"), "nearest_eval": r.pop("nearest_eval")}
        records.append({"id": record_id, "fields": fields, "metadata": r})
    _dump_json(records, f)


_WRITERS: dict[str, Callable[[pd.DataFrame, Any], None]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
    "label-studio": _write_label_studio,
    "argilla": _write_argilla,
}
