"""evalcov: how well does your eval set represent the traffic your users send?

>>> import evalcov
>>> report = evalcov.analyze("traffic.csv", "evals.csv", text="text")
>>> report.coverage, report.gaps()
"""

from evalcov.analyzer import CoverageAnalyzer, analyze
from evalcov.dedupe import Deduped, dedupe
from evalcov.embedders import Embedder, Precomputed, embed, get_embedder
from evalcov.ingest import normalize_text, read_evals, read_traffic
from evalcov.mapping import TrafficMap
from evalcov.persist import load
from evalcov.redact import redact
from evalcov.report import CoverageReport
from evalcov.writers import write_evals

__version__ = "0.2.0"

__all__ = [
    "CoverageAnalyzer",
    "CoverageReport",
    "Deduped",
    "Embedder",
    "Precomputed",
    "TrafficMap",
    "analyze",
    "dedupe",
    "embed",
    "get_embedder",
    "load",
    "normalize_text",
    "read_evals",
    "read_traffic",
    "redact",
    "write_evals",
]
