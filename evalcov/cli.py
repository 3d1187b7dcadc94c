"""Command line: ``evalcov analyze`` and ``evalcov drift``.

Results go to stdout and to the files asked for; progress goes to stderr (``--quiet`` silences
it). Bad input (a missing file, an unknown format, a missing column, an empty eval set) exits
with status 2 and one ``evalcov: error: ...`` line, without a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

EXAMPLES = """\
examples:
  evalcov analyze traffic.csv.gz --evals evals.csv --html report.html
  evalcov analyze logs/*.jsonl --evals promptfooconfig.yaml --text-col request \\
      --time-col created_at --html report.html --json summary.json
  evalcov analyze traffic.parquet --evals evals.csv --html report.html \\
      --export batch.csv -n 200 --format csv
  evalcov drift traffic.csv.gz --evals evals.csv --time-col timestamp --freq W \\
      --html drift.html --json drift.json

Inputs: CSV, TSV, JSONL, JSON, Parquet (optionally .gz), globs of them, chat logs in OpenAI
messages format and promptfoo configs (for --evals). Text columns are detected when not given.
"""

EXPORT_FORMATS = ("csv", "jsonl", "parquet", "label-studio", "argilla")
# Errors that mean "the input or the arguments are wrong": reported in one line, exit 2.
USER_ERRORS = (ValueError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``evalcov`` command."""
    parser = argparse.ArgumentParser(
        prog="evalcov",
        description="How well does your eval set represent the traffic your users send?",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from evalcov import __version__

    parser.add_argument("--version", action="version", version=f"evalcov {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{analyze,drift}")

    analyze = sub.add_parser(
        "analyze",
        help="coverage of traffic by an eval set: gaps, HTML report, labeling batch",
        description="Measure how well an eval set covers production traffic.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(analyze)
    analyze.add_argument("--export", metavar="PATH", help="write a labeling batch of gap queries")
    analyze.add_argument(
        "-n", type=int, default=200, help="queries in the labeling batch (default: 200)"
    )
    analyze.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="labeling batch format (default: from the --export file extension)",
    )
    analyze.set_defaults(func=_run_analyze)

    drift = sub.add_parser(
        "drift",
        help="how the traffic mix and coverage change over time windows",
        description="Compare each time window's cluster mix and coverage with the first one.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(drift, time_required=True)
    drift.set_defaults(func=_run_drift)
    return parser


def _add_common(p: argparse.ArgumentParser, time_required: bool = False) -> None:
    p.add_argument(
        "traffic", metavar="TRAFFIC", help="production traffic: file, glob or dir/*.jsonl"
    )
    p.add_argument(
        "--evals", required=True, metavar="EVALS", help="eval set: file (CSV, JSONL, promptfoo)"
    )
    p.add_argument("--text-col", metavar="C", help="traffic text column (default: detected)")
    p.add_argument("--eval-text-col", metavar="C", help="eval prompt column (default: detected)")
    p.add_argument(
        "--time-col", metavar="C", required=time_required, help="traffic timestamp column"
    )
    p.add_argument("--id-col", metavar="C", help="traffic id column")
    p.add_argument("--weight-col", metavar="C", help="traffic weight (count) column")
    p.add_argument("--user-col", metavar="C", help="traffic user column")
    p.add_argument("--freq", default="W", help="drift window, a pandas offset alias (default: W)")
    p.add_argument(
        "--embedder",
        choices=("default", "fast", "multilingual"),
        default="default",
        help="embedding model (default: default)",
    )
    p.add_argument(
        "--n-clusters",
        type=int,
        metavar="K",
        help="clusters in the map (default: one per two distinct eval prompts)",
    )
    p.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    p.add_argument("--html", metavar="PATH", help="write the standalone HTML report")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.add_argument("--debug", action="store_true", help="show the traceback of errors")


def main(argv: list[str] | None = None) -> int:
    """Run the ``evalcov`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.quiet:
        # Before the model libraries are imported: they read these once.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            return args.func(args)
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"evalcov: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalcov: interrupted", file=sys.stderr)
        return 130


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"evalcov: {message}", file=sys.stderr, flush=True)


def _check_outputs(*paths: str | None) -> None:
    """Fail before the expensive analysis when an output cannot be written."""
    for path in paths:
        if path is None:
            continue
        p = Path(path)
        if p.is_dir():
            raise IsADirectoryError(f"output {path} is a directory; give a file name")
        if not p.parent.is_dir():
            raise FileNotFoundError(f"directory of output {path} does not exist: {p.parent}")


def _analyze(args: argparse.Namespace) -> Any:
    import evalcov

    _say(args, f"reading {args.traffic} and {args.evals}; embedding and mapping the traffic")
    options = {
        "eval_text": args.eval_text_col,
        "id": args.id_col,
        "weight": args.weight_col,
        "user": args.user_col,
        "n_clusters": args.n_clusters,
    }
    report = evalcov.analyze(
        args.traffic,
        args.evals,
        text=args.text_col,
        time=args.time_col,
        embedder=args.embedder,
        random_state=args.seed,
        show_progress=not args.quiet,
        **{k: v for k, v in options.items() if v is not None},
    )
    _say(args, "analysis done")
    return report


def _run_analyze(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"-n must be a positive integer, got {args.n}")
    if args.format and not args.export:
        raise ValueError("--format applies to --export; give --export PATH too")
    _check_outputs(args.html, args.json, args.export)
    report = _analyze(args)
    print(repr(report))
    _warn_languages(report)
    gaps = report.gaps(10)
    for r in gaps.itertuples():
        print(
            f"  {r.Index + 1:>2}. [{r.status}] {r.label}: {r.traffic_share:.1%} of traffic, "
            f"{r.coverage:.0%} covered"
        )
    batch = None
    if args.export:
        try:
            from evalcov.export import export_for_labeling
        except ImportError as exc:
            print(f"evalcov: error: --export is not available: {exc}", file=sys.stderr)
            return 1
        _say(args, f"writing a labeling batch of up to {args.n} queries to {args.export}")
        batch = export_for_labeling(
            report, args.export, n=args.n, format=args.format, overwrite=True
        )
        _say(args, f"wrote {len(batch)} queries to {args.export}")
    if args.html:
        _say(args, f"writing {args.html} (the map's 2-D layout takes a while on large traffic)")
        report.to_html(args.html, drift_freq=args.freq, labeling_batch=batch)
        _say(args, f"wrote {args.html} ({Path(args.html).stat().st_size / 1e6:.1f} MB)")
    if args.json:
        payload = {
            "summary": report.summary(),
            "gaps": report.gaps(25).drop(columns=["keywords"]).to_dict(orient="records"),
        }
        _write_json(args.json, payload)
        _say(args, f"wrote {args.json}")
    return 0


def _warn_languages(report: Any) -> None:
    warning = report.summary().get("language_warning")
    if warning:
        print(f"warning: {warning}")


def _run_drift(args: argparse.Namespace) -> int:
    _check_outputs(args.html, args.json)
    report = _analyze(args)
    drift = report.drift(freq=args.freq)
    print(repr(report))
    _warn_languages(report)
    print(repr(drift))
    if args.html:
        _say(args, f"writing {args.html}")
        report.to_html(args.html, drift_freq=args.freq)
        _say(args, f"wrote {args.html}")
    if args.json:
        _write_json(args.json, {"summary": report.summary(), "drift": drift})
        _say(args, f"wrote {args.json}")
    return 0


def _write_json(path: str, payload: Any) -> None:
    text = json.dumps(_jsonable(payload), indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _jsonable(obj: Any) -> Any:
    """Plain JSON values from numpy/pandas ones: NaN and NaT become null, times ISO strings."""
    import numpy as np
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return _jsonable(obj.tolist())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if obj is None or obj is pd.NaT:
        return None
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) or math.isinf(obj) else float(obj)
    if isinstance(obj, np.datetime64):
        obj = pd.Timestamp(obj)
    if isinstance(obj, (pd.Timestamp, dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, (str, pd.Timedelta, pd.Period, Path)):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
