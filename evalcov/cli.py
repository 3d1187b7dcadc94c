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
import logging
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
  evalcov analyze traffic.csv --evals promptfooconfig.yaml --add-to promptfooconfig.yaml -n 25
  evalcov drift traffic.csv.gz --evals evals.csv --time-col timestamp --freq W \\
      --html drift.html --json drift.json

Inputs: CSV, TSV, JSONL, JSON, Parquet (optionally .gz), globs of them, chat logs in OpenAI
messages format and promptfoo configs (for --evals). Text columns are detected when not given.
Trace exports (OpenTelemetry OTLP JSON, Phoenix, Langfuse, LangSmith, Helicone, MLflow) and
eval-tool files are recognized by their structure; their text is the user's last message
(--time-col time).
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
    from evalcov.writers import EVAL_FORMATS

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
        "-n",
        type=int,
        default=200,
        help="queries in the labeling batch, and most cases --add-to adds (default: 200)",
    )
    analyze.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="labeling batch format (default: from the --export file extension)",
    )
    analyze.add_argument(
        "--neutralize-formulas",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="in a CSV batch, put ' before cells starting with = + - @ tab or CR so spreadsheets "
        "show them as text, not formulas (default: on; --no-neutralize-formulas writes raw text)",
    )
    analyze.add_argument(
        "--stability",
        type=int,
        metavar="N",
        help="refit the map with N other seeds and show, per gap, the share of its untested "
        "traffic they also call untested (costs N map fits; see report.stability)",
    )
    analyze.add_argument(
        "--confirmed-only",
        action="store_true",
        help="with --stability and --export: draw the batch only from the untested clusters "
        "the other maps confirm (>= 50%% of their untested traffic)",
    )
    analyze.add_argument(
        "--add-to",
        metavar="PATH",
        help="add the suggested eval cases to this eval file (promptfoo YAML/CSV, OpenAI Evals, "
        "DeepEval, Inspect, Ragas, Langfuse, LangSmith), created when missing",
    )
    analyze.add_argument(
        "--add-format",
        choices=EVAL_FORMATS,
        help="format of the --add-to file (default: from its content or name)",
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
    p.add_argument(
        "--traffic-format",
        metavar="F",
        help="force the traffic format: csv, jsonl, ..., or a trace source (otel, phoenix, "
        "langfuse, langsmith, helicone, mlflow); default: detected",
    )
    p.add_argument(
        "--evals-format",
        metavar="F",
        help="force the eval set format (openai_evals, deepeval, inspect, ragas, "
        "langfuse_dataset, langsmith_dataset, promptfoo, ...); default: detected",
    )
    p.add_argument(
        "--unit",
        choices=("trace", "span"),
        default="trace",
        help="trace formats: one row per trace (default) or per LLM span",
    )
    p.add_argument(
        "--failure",
        metavar="COL",
        help="traffic column that is true where a request failed (default: the 'error' and "
        "'feedback' columns when present)",
    )
    p.add_argument("--freq", default="W", help="drift window, a pandas offset alias (default: W)")
    p.add_argument(
        "--embedder",
        default="default",
        metavar="SPEC",
        help="embedding model: default, fast, multilingual, a sentence-transformers model "
        "folder or hub id, or openai:MODEL for an OpenAI-compatible endpoint, which is sent "
        "the traffic (default: default)",
    )
    p.add_argument("--device", help="torch device of a sentence-transformers model (cuda, mps)")
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="API root of the openai: endpoint (default: $OPENAI_BASE_URL, else OpenAI); "
        "the key is read from $OPENAI_API_KEY",
    )
    p.add_argument("--dimensions", type=int, metavar="D", help="vector size asked of openai:")
    p.add_argument(
        "--redact-before-embedding",
        action="store_true",
        help="redact PII from texts before they are sent to the openai: endpoint",
    )
    p.add_argument(
        "--price-per-million-tokens",
        type=float,
        metavar="USD",
        help="openai: price, to print the cost estimate before embedding",
    )
    p.add_argument(
        "--max-cost", type=float, metavar="USD", help="refuse an openai: run estimated above this"
    )
    p.add_argument(
        "--n-clusters",
        type=int,
        metavar="K",
        help="clusters in the map (default: one per two distinct eval prompts)",
    )
    p.add_argument(
        "--reach-floor",
        type=_reach_floor,
        default=argparse.SUPPRESS,  # absent unless given: "none" passes None on
        metavar="Q",
        help="no prompt claims less far than this quantile of the prompts' claim radii "
        "(default: 0.75); 'none' keeps each prompt's own radius (the rule before 2026-12-02)",
    )
    p.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    p.add_argument("--html", metavar="PATH", help="write the standalone HTML report")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.add_argument("--debug", action="store_true", help="show the traceback of errors")


def _reach_floor(value: str) -> float | None:
    """``--reach-floor``: a number (checked by the analyzer), or "none" (None) to turn it off."""
    if value.strip().lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a quantile in (0, 1] or 'none', got {value!r}"
        ) from None


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


_REMOTE_OPTIONS = (
    "base_url",
    "dimensions",
    "redact_before_embedding",
    "price_per_million_tokens",
    "max_cost",
)


def _embedder(args: argparse.Namespace) -> Any:
    """The --embedder spec, or the embedder built from it and its options."""
    from evalcov.embedders import OPENAI_PREFIX, get_embedder

    remote = {k: getattr(args, k) for k in _REMOTE_OPTIONS if getattr(args, k) not in (None, False)}
    if args.embedder.startswith(OPENAI_PREFIX):
        if args.device is not None:
            raise ValueError("--device applies to local models, not to an openai: endpoint")
        if not args.quiet and not logging.getLogger("evalcov.embedders.openai_api").handlers:
            # The token and cost estimate, printed before any text is sent.
            log = logging.getLogger("evalcov.embedders.openai_api")
            log.setLevel(logging.INFO)
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("evalcov: %(message)s"))
            log.addHandler(handler)
        return get_embedder(args.embedder, **remote)
    if remote:
        options = ", ".join("--" + k.replace("_", "-") for k in remote)
        raise ValueError(f"{options} apply to --embedder openai:MODEL, not {args.embedder!r}")
    if args.device is not None:
        try:
            return get_embedder(args.embedder, device=args.device)
        except TypeError as exc:
            raise ValueError(f"--device does not apply to --embedder {args.embedder}") from exc
    return args.embedder


def _analyze(args: argparse.Namespace) -> Any:
    import evalcov

    embedder = _embedder(args)
    _say(args, f"reading {args.traffic} and {args.evals}; embedding and mapping the traffic")
    stages = logging.getLogger("evalcov.stages")
    handler = None
    if not args.quiet:
        # One line as each stage starts and ends: a million rows take minutes.
        stages.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("evalcov: %(message)s"))
        stages.addHandler(handler)
    options = {
        "eval_text": args.eval_text_col,
        "id": args.id_col,
        "weight": args.weight_col,
        "user": args.user_col,
        "format": args.traffic_format,
        "eval_format": args.evals_format,
        "unit": args.unit,
        "n_clusters": args.n_clusters,
        "failure": args.failure,
    }
    floor = {"reach_floor": args.reach_floor} if "reach_floor" in vars(args) else {}
    try:
        report = evalcov.analyze(
            args.traffic,
            args.evals,
            text=args.text_col,
            time=args.time_col,
            embedder=embedder,
            random_state=args.seed,
            show_progress=not args.quiet,
            **{k: v for k, v in options.items() if v is not None},
            **floor,
        )
    finally:
        if handler is not None:
            stages.removeHandler(handler)
    _say(args, "analysis done")
    return report


def _run_analyze(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"-n must be a positive integer, got {args.n}")
    if args.format and not args.export:
        raise ValueError("--format applies to --export; give --export PATH too")
    if args.add_format and not args.add_to:
        raise ValueError("--add-format applies to --add-to; give --add-to PATH too")
    if args.stability is not None and args.stability < 1:
        raise ValueError(f"--stability must be a positive integer, got {args.stability}")
    if args.confirmed_only and not (args.stability and args.export):
        raise ValueError("--confirmed-only needs --stability N and --export PATH")
    _check_outputs(args.html, args.json, args.export)
    if args.add_to:
        from evalcov.writers import check_target

        check_target(args.add_to, args.add_format, append=True)
    report = _analyze(args)
    print(repr(report))
    _warn_languages(report)
    stability = None
    if args.stability:
        _say(args, f"refitting the map with {args.stability} other seeds")
        stability = report.stability(n_maps=args.stability)
        by_map = stability.attrs["coverage_by_map"]
        print(
            f"stability: coverage {min(by_map):.1%}-{max(by_map):.1%} over {len(by_map)} maps; "
            f"{stability.attrs['agreement']:.0%} of untested traffic shared with each other map"
        )
    gaps = _with_stability(report.gaps(10), stability)
    for r in gaps.itertuples():
        confirmed = f", {r.confirmed:.0%} confirmed by other maps" if stability is not None else ""
        print(
            f"  {r.Index + 1:>2}. [{r.status}] {r.label}: {r.traffic_share:.1%} of traffic, "
            f"{r.coverage:.0%} covered{confirmed}"
        )
    for r in report.thin().head(5).itertuples():
        print(
            f"  thin: {r.label}: {r.traffic_share:.1%} of traffic, {r.n_eval} eval prompts "
            f"(a traffic-proportional set would have {r.expected_eval:.1f})"
        )
    summary = report.summary()
    has_failures = "failure_rate" in summary
    if has_failures:
        print(
            f"failing and untested: {summary['untested_failures']:.1%} of failures (failure "
            f"rate {summary['failure_rate']:.1%}) are in traffic no eval prompt tests"
        )
        for i, r in enumerate(report.gaps(10, by="risk").itertuples()):
            print(
                f"  {i + 1:>2}. [{r.status}] {r.label}: fails {r.failure_rate:.0%} "
                f"({r.failure_rate_low:.0%}-{r.failure_rate_high:.0%}), "
                f"{r.untested_failures:.1%} of all failures untested"
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
            report,
            args.export,
            n=args.n,
            format=args.format,
            overwrite=True,
            neutralize_formulas=args.neutralize_formulas,
            clusters=_confirmed_clusters(args, report),
        )
        _say(args, f"wrote {len(batch)} queries to {args.export}")
    if args.add_to:
        _say(args, f"choosing up to {args.n} eval cases to add to {args.add_to}")
        cases = report.write_additions(args.add_to, budget=args.n, format=args.add_format)
        added = int((cases["status"] == "added").sum())
        projected = cases["projected_coverage"].iloc[-1] if len(cases) else report.coverage
        print(
            f"added {added} eval cases to {args.add_to} ({len(cases) - added} already in it); "
            f"projected coverage {report.coverage:.1%} -> {projected:.1%}"
        )
    if args.html:
        _say(args, f"writing {args.html} (the map's 2-D layout takes a while on large traffic)")
        report.to_html(args.html, drift_freq=args.freq, labeling_batch=batch, stability=stability)
        _say(args, f"wrote {args.html} ({Path(args.html).stat().st_size / 1e6:.1f} MB)")
    if args.json:
        gaps25 = _with_stability(report.gaps(25), stability)
        payload = {
            "summary": summary,
            "gaps": gaps25.drop(columns=["keywords"]).to_dict(orient="records"),
        }
        if stability is not None:
            payload["stability"] = {
                "coverage_by_map": stability.attrs["coverage_by_map"],
                "random_states": stability.attrs["random_states"],
                "agreement": stability.attrs["agreement"],
            }
        if has_failures:
            payload["risk_gaps"] = report.gaps(25, by="risk").drop(columns=["keywords"])
            payload["failing_covered"] = report.failing_covered().drop(columns=["keywords"])
        _write_json(args.json, payload)
        _say(args, f"wrote {args.json}")
    return 0


def _confirmed_clusters(args: argparse.Namespace, report: Any) -> list[int] | None:
    """With --confirmed-only, the untested clusters most of whose untested traffic the other
    maps also call untested (the labeling batch's pool); None (every gap) without it or when
    the other maps confirm none."""
    if not args.confirmed_only:
        return None
    from evalcov.stability import confirmed_clusters

    sure = confirmed_clusters(report, n_maps=args.stability)
    n_untested = int((report.clusters["status"] == "uncovered").sum())
    if not sure:
        _say(args, "no untested cluster is confirmed by the other maps; batch from every gap")
        return None
    _say(args, f"batch from the {len(sure)} of {n_untested} untested clusters they confirm")
    return sure


def _with_stability(gaps: Any, stability: Any) -> Any:
    """Gap rows with the other maps' ``confirmed`` and ``untested_elsewhere`` (topic level)."""
    if stability is None:
        return gaps
    columns = stability[["topic", "confirmed", "untested_elsewhere"]]
    return gaps.merge(columns, on="topic", how="left")


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
    from evalcov._files import atomic_write

    text = json.dumps(_jsonable(payload), indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_write(path) as f:
        f.write((text + "\n").encode("utf-8"))


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
