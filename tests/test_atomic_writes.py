"""Killed mid-write, every writer leaves the old file or none, never a truncated one.

One helper process builds a real report once, then forks writers that loop over every kind of
file evalcov writes (labeling CSV, standalone HTML, saved map, embedding-cache shard), each
round a new complete version. Each writer announces the file it starts on; the helper SIGKILLs
it a random few milliseconds (fixed seed) after a chosen writer started, in the first round
(no old file) or a later one (old file present). After every kill it checks each file: absent,
or complete and readable. Pointed at a plain ``open(path, "wb")`` writer, the check fails.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import run_python

from evalcov._files import atomic_write

REPO = Path(__file__).resolve().parents[1]

HELPER = textwrap.dedent(
    """
    import json, os, random, signal, sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    from sklearn.decomposition import PCA
    import evalcov
    from evalcov.cache import _TMP_PREFIX, EmbeddingCache, _read_vectors
    from evalcov.export import write_batch

    out, kills = Path(sys.argv[1]), int(sys.argv[2])
    traffic = pd.read_csv(Path(sys.argv[3]) / "traffic.csv.gz").iloc[::300]
    evals = pd.read_csv(Path(sys.argv[3]) / "evals.csv")
    report = evalcov.analyze(traffic, evals, text="text", eval_text="prompt",
                             reducer=PCA(5, random_state=0), show_progress=False)
    base = report.export_for_labeling(n=20)
    N = 1000 * len(base)  # a few MB, so a kill lands inside the write
    vectors = np.tile(report.traffic_embeddings_, (40, 1))
    report.to_html(out / "warmup.html")  # the map layout is computed once, here
    cache_dir = out / "cache"

    def write_round(v, stage_fd):
        def stage(name):
            os.write(stage_fd, name.encode() + b"\\n")
        batch = pd.concat([base] * 1000, ignore_index=True)
        batch["cluster_label"] = f"v{v}"
        stage("csv"); write_batch(batch, out / "batch.csv", overwrite=True)
        stage("html"); report.to_html(out / "report.html", title=f"v{v}")
        stage("save"); report.save(out / "map.zip")
        stage("cache")
        texts = [f"v{v} text {i}" for i in range(len(vectors))]
        EmbeddingCache(cache_dir).put("killtest", texts, vectors)

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

    rng = random.Random(0)
    results = []
    for k in range(kills):
        target = ["csv", "html", "save", "cache"][k % 4]
        rounds = 1 + (k // 4) % 2  # first round: no old file; second: an old one
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            v = 0
            while True:
                write_round(1000 * k + v, w)
                v += 1
        os.close(w)
        seen, stages = 0, []
        with os.fdopen(r) as pipe:
            while seen < rounds:
                stages.append(pipe.readline().strip())
                seen += stages[-1] == target
            time.sleep(rng.uniform(0.0, 0.05))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        results.append({"killed_in": target, "round": rounds, "bad": check()})
    print(json.dumps(results))
    """
)


def test_killed_writers_leave_old_file_or_none(tmp_path):
    result = run_python(HELPER, tmp_path, 8, REPO / "sample_data")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(results) == 8
    assert [r["bad"] for r in results] == [[]] * 8, results
    assert sorted(r["killed_in"] for r in results) == sorted(["csv", "html", "save", "cache"] * 2)
    # Every file the loop writes exists after the runs, complete (checked above).
    for name in ("batch.csv", "report.html", "map.zip"):
        assert (tmp_path / name).is_file()


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
