"""Texts from the data on an HTML page, and the page's Content-Security-Policy.

Everything evalcov shows comes from people it does not trust: production queries, eval
prompts, labels from any labeler, file and column names. Three layers keep such a text inert:

- **escaping**: jinja2 autoescapes the templates; texts that plotly renders as its own
  pseudo-HTML (hover labels, legend entries, axis ticks, annotations) go through
  :func:`plot_text`;
- **bidi isolation**: a text holding Unicode direction controls (U+202E "right-to-left
  override", ...) is wrapped in FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE, so its
  overrides end with it instead of reversing the numbers and words shown after it;
- **a Content-Security-Policy** in the standalone page (:func:`content_security_policy`):
  only the page's own inline scripts run (by SHA-256 hash) and nothing is loaded from the
  network, so even a text that escaped the first layer could neither run nor phone home.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterable

__all__ = [
    "BIDI_CONTROLS",
    "content_security_policy",
    "inline_scripts",
    "isolate_bidi",
    "plot_text",
]

# Explicit embeddings, overrides and isolates, and their terminators (Unicode TR9).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FSI, _PDI = "\u2068", "\u2069"
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script\s*>", re.S | re.I)


def isolate_bidi(text: str) -> str:
    """``text`` wrapped in a bidi isolate when it holds direction controls, else unchanged.

    The isolate closes every embedding or override the text opened (TR9 rule X6a), so an
    unterminated U+202E cannot flip what follows it on the page.
    """
    if BIDI_CONTROLS.isdisjoint(text):
        return text
    return _FSI + text + _PDI


def plot_text(text: object) -> str:
    """A data text for plotly's pseudo-HTML labels: HTML-escaped and bidi-isolated.

    Plotly interprets tags such as ``<b>`` and ``<a href>`` in hover texts, legend names, tick
    labels and annotations; escaped, a text shows as written.
    """
    return isolate_bidi(html.escape(str(text), quote=False))


def inline_scripts(page: str) -> list[str]:
    """Bodies of the ``<script>`` elements of ``page``, in order."""
    return _SCRIPT.findall(page)


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(scripts: Iterable[str]) -> str:
    """A policy that runs exactly ``scripts`` (by hash) and loads nothing from the network.

    ``'unsafe-eval'`` stays allowed: plotly.js's WebGL traces (the map's ``Scattergl``) compile
    their draw calls with ``Function`` (regl), and without it the map shows "WebGL is not
    supported". It lets the page's own scripts evaluate code they build; it does not let any
    new script element or attribute handler run.

    Styles may be inline (the page's stylesheet and plotly's computed styles); images and
    fonts only from ``data:``/``blob:`` URLs (plotly's icons and PNG download); no fetch,
    frame, form target, plugin or ``<base>``.
    """
    hashes = " ".join(dict.fromkeys(_hash(s) for s in scripts))
    return (
        "default-src 'none'; "
        f"script-src 'unsafe-eval' {hashes}; "
        "style-src 'unsafe-inline'; "
        "img-src data: blob:; "
        "font-src data:; "
        "connect-src 'none'; "
        "worker-src blob:; "
        "base-uri 'none'; "
        "form-action 'none'; "
        "object-src 'none'"
    )
