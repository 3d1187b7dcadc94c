"""Killed mid-write, every writer leaves the old file or none, never a truncated one.

The test builds a real report (layout of the map included) and hands it, pickled, to a helper
process, which forks writers of every kind of file evalcov writes (labeling CSV, standalone
HTML, saved map, embedding-cache shard), each looping over new complete versions of one file.
The helper SIGKILLs a writer a random few milliseconds (fixed seed) after the temporary file
of its first write (no old file) or of its second (an old file present) appears, and records
that the temporary file was still there after the kill (the kill landed mid-write, before the
rename; a kill that came late is tried again) and whether an old file was.
After every kill it checks each file: absent, or complete and readable. A plain
``open(path, "wb")`` writer killed at that point would leave an empty or truncated file there.
"""

from __future__ import annotations

import json
import pickle
import textwrap
from pathlib import Path

import pandas as pd
from conftest import run_python
from sklearn.decomposition import PCA

import evalcov
from evalcov._files import atomic_write

REPO = Path(__file__).resolve().parents[1]

HELPER = textwrap.dedent(
    """
    import json, os, pickle, random, signal, sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    import evalcov
    from evalcov.cache import _TMP_PREFIX, EmbeddingCache, _read_vectors
    from evalcov.export import write_batch

    out, kills = Path(sys.argv[1]), int(sys.argv[2])
    with open(sys.argv[3], "rb") as f:
        report = pickle.load(f)
    base = report.export_for_labeling(n=20)
    N = 1000 * len(base)  # a few MB, so the CSV write lasts
    vectors = np.tile(report.traffic_embeddings_, (40, 1))
    cache_dir = out / "cache"
    shards = cache_dir / "embeddings"  # one folder per embedder below it
    FILES = {"csv": "batch.csv", "html": "report.html", "save": "map.zip"}

    def write(target, v):
        if target == "csv":
            batch = pd.concat([base] * 1000, ignore_index=True)
            batch["cluster_label"] = f"v{v}"
            write_batch(batch, out / "batch.csv", overwrite=True)
        elif target == "html":
            report.to_html(out / "report.html", title=f"v{v}")
        elif target == "save":
            report.save(out / "map.zip")
        else:
            texts = [f"v{v} text {i}" for i in range(len(vectors))]
            EmbeddingCache(cache_dir).put("killtest", texts, vectors)

    def temporaries(target):
        # atomic_write's ".<name>.<random>.tmp"; the cache's ".tmp-<shard>".
        if target == "cache":
            return set(shards.glob("*/" + _TMP_PREFIX + "*"))
        return set(out.glob("." + FILES[target] + ".*.tmp"))

    def old_file(target):
        if target == "cache":
            return any(not p.name.startswith(_TMP_PREFIX) for p in shards.glob("*/*.evc"))
        return (out / FILES[target]).exists()

    def check():
        bad = []
        p = out / "batch.csv"
        if p.exists():
            try:
                b = pd.read_csv(p, keep_default_na=False)
                if len(b) != N or b["cluster_label"].nunique() != 1:
                    bad.append(f"batch.csv: {len(b)} rows")
            except Exception as exc:
                bad.append(f"batch.csv: {exc!r}")
        p = out / "report.html"
        if p.exists():
            page = p.read_text(encoding="utf-8")
            if not page.rstrip().endswith("</html>"):
                bad.append("report.html truncated")
        p = out / "map.zip"
        if p.exists():
            try:
                evalcov.load(p)
            except Exception as exc:
                bad.append(f"map.zip: {exc!r}")
        for shard in (cache_dir.rglob("*.evc") if cache_dir.exists() else []):
            # Temporary shards (being written) are ignored by readers and swept later.
            if not shard.name.startswith(_TMP_PREFIX) and _read_vectors(shard, True) is None:
                bad.append(f"cache shard {shard.name} damaged")
        return bad

    def kill_writer(k, target, rounds):
        before = temporaries(target)  # left by earlier kills
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:  # the writer: until killed; never back into this loop if a write fails
                os.close(r)
                v = 0
                while True:
                    os.write(w, b"write\\n")
                    write(target, 1000 * k + v)
                    v += 1
            finally:
                os._exit(1)
        os.close(w)
        with os.fdopen(r) as pipe:
            for _ in range(rounds):
                pipe.readline()
            # The previous write's temporary is renamed by now; wait for this one's.
            deadline = time.monotonic() + 30
            while not (seen := temporaries(target) - before) and time.monotonic() < deadline:
                pass
            time.sleep(rng.uniform(0.0, 0.005))  # at a varying point of the write
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        new = temporaries(target) - before
        return {
            "temporary_seen": bool(seen),  # none: the writer does not write one, retry won't
            "mid_write": bool(new),
            "bytes_written": [p.stat().st_size for p in new],
        }

    def forget(target):
        # Undo a write that completed (a kill that came late), so the first write has none.
        if target == "cache":
            for p in shards.glob("*/*.evc"):
                p.unlink()
        else:
            (out / FILES[target]).unlink(missing_ok=True)

    rng = random.Random(0)
    results = []
    for k in range(kills):
        target = ["csv", "html", "save", "cache"][k % 4]
        rounds = 1 + (k // 4) % 2  # first write: no old file; second: an old one
        # A busy machine may run the writer past the poll: try again (a few times at most).
        for attempt in range(1, 6):
            killed = kill_writer(k, target, rounds)
            old = bool(old_file(target))
            if not killed["temporary_seen"] or killed["mid_write"] and old == (rounds == 2):
                break
            if rounds == 1:
                forget(target)
        results.append({
            "killed_in": target, "round": rounds, "attempts": attempt, **killed,
            "old_file": old, "bad": check(),
        })
    print(json.dumps(results))
    """
)


def test_killed_writers_leave_old_file_or_none(tmp_path):
    traffic = pd.read_csv(REPO / "sample_data" / "traffic.csv.gz").iloc[::300]
    report = evalcov.analyze(
        traffic,
        pd.read_csv(REPO / "sample_data" / "evals.csv"),
        text="text",
        eval_text="prompt",
        reducer=PCA(5, random_state=0),
        show_progress=False,
    )
    report.to_html()  # the map layout is computed once, here, and pickled with the report
    with open(tmp_path / "report.pkl", "wb") as f:
        pickle.dump(report, f)
    out = tmp_path / "out"
    out.mkdir()
    result = run_python(HELPER, out, 8, tmp_path / "report.pkl")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(results) == 8
    assert [r["bad"] for r in results] == [[]] * 8, results
    assert sorted(r["killed_in"] for r in results) == sorted(["csv", "html", "save", "cache"] * 2)
    # Each kill landed mid-write (its temporary file outlived it), with no old file in the
    # first write and one in the second.
    assert all(r["mid_write"] for r in results), results
    assert [r["old_file"] for r in results] == [r["round"] == 2 for r in results], results
    # Every file the loop writes exists after the runs, complete (checked above).
    for name in ("batch.csv", "report.html", "map.zip"):
        assert (out / name).is_file()


def test_atomic_write_on_error_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    try:
        with atomic_write(target) as f:
            f.write(b"partial")
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as f:
        f.write(b"new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]
    try:
        with atomic_write(target, overwrite=False) as f:
            f.write(b"newer")
    except FileExistsError as exc:
        assert "overwrite=True" in str(exc)
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]
