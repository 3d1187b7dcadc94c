"""PII redaction for everything evalcov writes for people to read.

Labeling exports, HTML reports and plot hovers show real user text, so they go through
:func:`redact` by default. The default :class:`RegexRedactor` finds structured PII with
patterns *and* checks (Luhn for cards, mod-97 and the country length for IBANs, valid
areas for SSNs, ``ipaddress`` for IPv6), because on support-style traffic the costly
mistakes are near-misses: order numbers, dates, tracking numbers and the long digit runs
inside URLs. It does not find names or street addresses; plug a model-based redactor
(``redactor="presidio"`` or any callable) in for those.

Categories and their placeholders (``CATEGORIES``):

========== =================================================================
EMAIL      ``name@domain.tld``
PHONE      international (``+44 20 7946 0958``, ``+1-202-555-0143``, ``0044 ...``) and
           national (``(202) 555-0143``, ``020 7946 0958``, ``06 12 34 56 78``,
           ``612 34 56 78``); an
           unseparated run of 10-12 digits only after a word such as "call" or "phone"
CARD       13-19 digits, contiguous or grouped, Luhn-valid, issuer prefix 2-6
IBAN       country code + check digits + BBAN of the country's length, mod-97 valid
SSN        ``###-##-####`` or ``### ## ####`` (area not 000, 666 or 9xx);
           9 contiguous digits only after "SSN" / "social security"
IP         IPv4 (not after "version", "v", "build", "beta", "driver", ...) and IPv6
SECRET     API keys (``sk-``, ``sk-proj-``, ``sk_live_``, ``AKIA``, ``ghp_``,
           ``github_pat_``, ``xox[bp]-``, ``AIza``, ``glpat-``, ``hf_``, ``npm_``), JWTs,
           private-key blocks, the token after ``Bearer``, the value in ``password: xyz``
           / ``api_key=xyz`` / ``"api_key": "xyz"`` forms, and "password is x1y2" when
           the value has a digit or symbol
URL_TOKEN  the value of a credential-like URL query parameter (``token``,
           ``access_token``, ``api_key``, ``sig``, ``X-Amz-Signature``, ...)
========== =================================================================

``HANDLE`` (``@user`` mentions) is opt-in, not in ``CATEGORIES``: a handle is a public
username, and in support traffic it is mostly the company being addressed, which is
context a reader needs.

Digit-based categories (PHONE, CARD, SSN, IBAN) are not searched inside URLs: archive
timestamps, article and ticket ids there are long digit runs that are not about a person.
Credentials inside URLs are still found (URL_TOKEN, SECRET), and so are emails and IPs.

Placeholders are consistent within one ``redact()`` call: the same value always gets the
same placeholder. When a batch holds one distinct value of a category the placeholder is
plain (``[EMAIL]``); with several they are numbered in order of first appearance
(``[EMAIL_1]``, ``[EMAIL_2]``), so a reader can still tell that two texts mention the same
address. Numbers never carry across calls.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "CATEGORIES",
    "OPTIONAL_CATEGORIES",
    "IdentityRedactor",
    "PresidioRedactor",
    "Redactor",
    "RegexRedactor",
    "Span",
    "get_redactor",
    "luhn_valid",
    "iban_valid",
    "redact",
]

CATEGORIES = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP", "SECRET", "URL_TOKEN")
OPTIONAL_CATEGORIES = ("HANDLE",)

# Overlapping detections resolve to the earlier category here: a JWT inside a URL query
# is a SECRET, a password that happens to pass Luhn stays a SECRET.
_PRIORITY = {
    name: rank
    for rank, name in enumerate(
        ("SECRET", "URL_TOKEN", "EMAIL", "IBAN", "IP", "CARD", "SSN", "PHONE", "HANDLE")
    )
}


class Span(NamedTuple):
    """One detected piece of PII: ``text[start:end] == value``."""

    start: int
    end: int
    category: str
    value: str


@runtime_checkable
class Redactor(Protocol):
    """Anything that maps a batch of texts to the same number of redacted texts."""

    def redact(self, texts: Sequence[str]) -> list[str]: ...


# --------------------------------------------------------------------------- checks


def luhn_valid(digits: str) -> bool:
    """Return whether a string of digits passes the Luhn checksum (payment cards)."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# ISO 13616 registry lengths; the length check turns mod-97's 1-in-97 chance of a random
# match into a near-certain rejection of anything that is not an IBAN.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(iban: str) -> bool:
    """Return whether ``iban`` (spaces allowed, any case) has a valid length and mod-97 check."""
    s = iban.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(s[:2]) != len(s) or not s.isascii() or not s.isalnum():
        return False
    if not s[2:4].isdigit():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# ------------------------------------------------------------------------- patterns

_I = re.IGNORECASE
_A = re.ASCII

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+|www\.[^\s<>\"']+")

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)

# A "digit chain" is a maximal run of digit groups joined by single separators (space,
# dot, dash) or a parenthesised group, optionally led by "+". PHONE, CARD and SSN are
# decided from the shape of the whole chain, so a window inside a longer number (a
# tracking number, a timestamp) can never match. ASCII classes keep letters of any
# script next to a number from blocking it, e.g. "电话020 7946 0958".
_CHAIN_RE = re.compile(
    r"(?<![A-Za-z0-9_#$€£¥%+@/.,-])(?<!\d[ .-])"
    r"(?P<plus>\+ ?)?(?:\(\d{1,5}\) ?)?\d+"
    r"(?:(?:[ .-]|[ .-]?\(\d{1,5}\)[ .-]?)\d+)*"
    r"(?![A-Za-z0-9_%/]|[ .,-]\d|[ .-]?\(\d)",
    _A,  # \d must not match other scripts' digits, which Luhn and int() would then see
)
_GROUP_RE = re.compile(r"\d+", _A)
_SEP_RE = re.compile(r"(?<=\d)[ .-](?=\d)")
_PHONE_CONTEXT_RE = re.compile(
    r"\b(?:phone|tel|telephone|call|called|cell|cellphone|mobile|mob|whatsapp|sms|fax|text|"
    r"ring|dial|reach me|reached|contact me|my number|contact number|phone number|number is)\b"
    r"[^\d\n]{0,20}$",
    _I,
)
_SSN_CONTEXT_RE = re.compile(r"\b(?:ssn|social security(?: number| no\.?)?)\b[^\d\n]{0,20}$", _I)

_IBAN_START_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?= ?[A-Za-z0-9])", _A)

_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(
    rf"(?<![A-Za-z0-9_.:-])(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}(?![A-Za-z0-9_]|\.\d)", _A
)
_VERSION_CONTEXT_RE = re.compile(
    r"\b(?:version|ver\.?|v\.?|build|release|firmware|fw|update|updated to|patch|rev|beta|"
    r"alpha|rc|driver|os|ios|android|windows|chrome|firefox)\W{0,3}$",
    _I,
)
_IPV6_RE = re.compile(
    r"(?<![A-Za-z0-9_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:%[A-Za-z0-9]+)?(?![A-Za-z0-9_:]|\.\d)"
)

# (pattern, group holding the secret). Keys are matched by their vendor prefix; generic
# "three dotted parts" is not enough for a JWT (every domain name has that shape), so the
# header must start like base64 of '{"'.
_SECRET_RES = [
    (re.compile(p, f), g, gate)
    for gate, p, f, g in [
        (
            ("private key",),
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
            re.S,
            0,
        ),
        (("sk-",), r"(?<![A-Za-z0-9_-])sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", 0, 0),
        (("k_live_", "k_test_"), r"(?<![A-Za-z0-9_])[spr]k_(?:live|test)_[A-Za-z0-9]{16,}", 0, 0),
        (("akia", "asia"), r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])", 0, 0),
        (
            ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
            r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}",
            0,
            0,
        ),
        (("github_pat_",), r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}", 0, 0),
        (("xox",), r"(?<![A-Za-z0-9_-])xox[baprse]-[A-Za-z0-9-]{10,}", 0, 0),
        (("aiza",), r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}", 0, 0),
        (
            ("glpat-", "hf_", "npm_"),
            r"(?<![A-Za-z0-9_-])(?:glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z]{30,}|npm_[A-Za-z0-9]{36})",
            0,
            0,
        ),
        (
            ("eyj",),
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            0,
            0,
        ),
        (("bearer",), r"\bbearer\s+([A-Za-z0-9._~+/-]{12,}=*)", _I, 1),
        # key: value / key=value credentials; the value may be quoted (JSON, YAML, env).
        (
            ("pass", "pwd", "pin", "secret", "key", "token", "contraseña"),
            r"(?<![?&;#])\b(?:password|passwd|passwort|mot de passe|contraseña|pwd|passcode|pass|"
            r"pin|secret|client_secret|secret_key|api[_-]?key|apikey|access[_-]?key(?:_id)?|"
            r"aws_secret_access_key|auth[_-]?token|access[_-]?token|refresh[_-]?token|token)"
            r"[\"']?\s*[:=]\s*(?:\"([^\"\n]{1,200})\"|'([^'\n]{1,200})'|([^\s\"',;]{1,200}))",
            _I,
            (1, 2, 3),
        ),
        # "my password is hunter2": only when the value looks like a password (has a
        # digit or symbol), so "the password is wrong" is left alone.
        (
            ("pass", "pin"),
            r"\b(?:password|passcode|pin)\s+(?:is|was)\s+"
            r"((?=[^\s]*[\d!@#$%^&*_+=?])[^\s\"',;]{4,100})",
            _I,
            1,
        ),
    ]
]
_URL_TOKEN_RE = re.compile(
    r"[?&;#](?:token|access_token|refresh_token|id_token|auth|auth_token|authtoken|"
    r"api_key|apikey|key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"password|pwd|pass|secret|client_secret|code|session|sessionid|session_id|sid|otp)="
    r"([^&\s#\"'<>]+)",
    _I,
)
_HANDLE_RE = re.compile(r"(?<![A-Za-z0-9_@.])@[A-Za-z0-9_]{1,15}(?![A-Za-z0-9_@])")

# Secret detectors run only when one of their literal cues is in the lowercased text:
# substring tests cost far less than a case-insensitive regex scan of every text.
_SECRET_KEYS = tuple(sorted({k for _, _, gate in _SECRET_RES for k in gate}))

# ------------------------------------------------------------------------ detectors


def _find_chains(text: str, url_mask: list[tuple[int, int]], wanted: frozenset) -> list[Span]:
    spans = []
    for m in _CHAIN_RE.finditer(text):
        start, end = m.span()
        if end - start < 8 or _inside(start, end, url_mask):
            continue
        category = _classify_chain(text, m)
        if category in wanted:
            spans.append(Span(start, end, category, m.group()))
    return spans


def _classify_chain(text: str, m: re.Match) -> str | None:
    chain = m.group()
    groups = _GROUP_RE.findall(chain)
    digits = "".join(groups)
    n = len(digits)
    if n < 8:  # no category here has fewer digits; most chains (years, prices) stop here
        return None
    lens = [len(g) for g in groups]
    seps = set(_SEP_RE.findall(chain))
    if m.group("plus"):
        # "+44 (0)20 ..." writes the national trunk zero in parentheses; it is not dialled.
        if "(0)" in chain:
            n -= 1
        return "PHONE" if 8 <= n <= 15 and digits[0] != "0" else None
    if digits.startswith("00") and n >= 10 and digits[2] != "0" and n <= 17:
        return "PHONE"
    if 13 <= n <= 19 and digits[0] in "23456" and "." not in seps and "(" not in chain:
        grouped_by_4 = all(x == 4 for x in lens[:-1]) and 1 <= lens[-1] <= 5
        card_shape = len(groups) == 1 or (
            len(seps) == 1 and (grouped_by_4 or lens in ([4, 6, 5], [4, 6, 4]))
        )
        if card_shape and luhn_valid(digits):
            return "CARD"
    if lens == [3, 2, 4] and len(seps) == 1 and seps <= {"-", " "} and _ssn_ok(digits):
        return "SSN"
    if (
        lens == [9]
        and _ssn_ok(digits)
        and _SSN_CONTEXT_RE.search(text, max(0, m.start() - 40), m.start())
    ):
        return "SSN"
    if _nanp(chain, lens, digits):
        return "PHONE"
    national = digits[0] == "0" and digits[1] != "0" and 10 <= n <= 12
    if national and len(groups) >= 2 and min(lens) >= 2:
        return "PHONE"
    # Spain writes mobiles and landlines without a trunk zero, as 6xx xx xx xx.
    if lens == [3, 2, 2, 2] and digits[0] in "6789" and len(seps) == 1:
        return "PHONE"
    if (
        len(groups) == 1
        and 10 <= n <= 12
        and _PHONE_CONTEXT_RE.search(text, max(0, m.start() - 40), m.start())
    ):
        return "PHONE"
    return None


def _nanp(chain: str, lens: list[int], digits: str) -> bool:
    """North American numbers: [1] NXX NXX XXXX with separators or a parenthesised area code."""
    if lens[:1] == [1] and digits[0] == "1":
        lens, digits = lens[1:], digits[1:]
    if lens not in ([3, 3, 4], [3, 7]) or digits[0] in "01" or digits[3] in "01":
        return False
    return lens == [3, 3, 4] or chain.lstrip("1 -").startswith("(")


def _ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _find_ibans(text: str, url_mask: list[tuple[int, int]]) -> list[Span]:
    spans = []
    for m in _IBAN_START_RE.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2].upper())
        if length is None or _inside(m.start(), m.end(), url_mask):
            continue
        # Walk exactly the country's length of characters, allowing single spaces between
        # them, so a word after the IBAN is never swallowed.
        i, count = m.end(), 4
        while count < length and i < len(text):
            ch = text[i]
            if ch.isascii() and ch.isalnum():
                count += 1
                i += 1
            elif ch == " " and i + 1 < len(text) and text[i + 1] != " ":
                i += 1
            else:
                break
        if count != length or (i < len(text) and text[i].isascii() and text[i].isalnum()):
            continue
        value = text[m.start() : i]
        if iban_valid(value):
            spans.append(Span(m.start(), i, "IBAN", value))
    return spans


def _find_ips(text: str) -> list[Span]:
    spans = []
    for m in _IPV4_RE.finditer(text) if text.count(".") >= 3 else ():
        if not _VERSION_CONTEXT_RE.search(text, max(0, m.start() - 20), m.start()):
            spans.append(Span(m.start(), m.end(), "IP", m.group()))
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6_RE.finditer(text):
            value = m.group()
            # Three hex groups at least: "a::b" or "12::30" are not addresses anyone writes.
            if sum(1 for g in re.split(r"[:%]", value) if g) < 3 and "." not in value:
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            spans.append(Span(m.start(), m.end(), "IP", value))
    return spans


def _find_secrets(text: str, present: set[str]) -> list[Span]:
    spans = []
    for pattern, group, gate in _SECRET_RES:
        if present.isdisjoint(gate):
            continue
        for m in pattern.finditer(text):
            groups = group if isinstance(group, tuple) else (group,)
            g = next(g for g in groups if m.group(g) is not None)
            spans.append(Span(m.start(g), m.end(g), "SECRET", m.group(g)))
    return spans


def _inside(start: int, end: int, mask: list[tuple[int, int]]) -> bool:
    return any(s <= start and end <= e for s, e in mask)


def _resolve(spans: list[Span]) -> list[Span]:
    """Keep non-overlapping spans, preferring higher-priority categories, then longer ones."""
    if len(spans) < 2:
        return spans
    kept: list[Span] = []
    for sp in sorted(spans, key=lambda s: (_PRIORITY[s.category], s.start - s.end)):
        if all(sp.end <= k.start or sp.start >= k.end for k in kept):
            kept.append(sp)
    return sorted(kept)


def _normalize(span: Span) -> str:
    """The identity of a value for consistent placeholders: formatting does not matter."""
    if span.category in ("PHONE", "CARD", "SSN"):
        return re.sub(r"\D", "", span.value.replace("(0)", ""))
    if span.category in ("EMAIL", "IBAN", "HANDLE"):
        return span.value.replace(" ", "").lower()
    return span.value


# ------------------------------------------------------------------------ redactors


class RegexRedactor:
    """Pattern-and-checksum redactor for structured PII; the evalcov default.

    Parameters
    ----------
    categories : iterable of str or None, default=None
        Which categories to redact. None means all of ``CATEGORIES``; ``"HANDLE"``
        (``@user`` mentions) can be added.
    consistent : bool, default=True
        If True, the same value gets the same placeholder within one :meth:`redact` call,
        numbered (``[EMAIL_1]``, ``[EMAIL_2]``) when the batch holds several distinct values
        of a category. If False every value becomes the bare ``[EMAIL]``.

    Examples
    --------
    >>> RegexRedactor().redact(["mail bob@example.com or call +1-202-555-0143"])
    ['mail [EMAIL] or call [PHONE]']
    """

    def __init__(self, categories: Iterable[str] | None = None, consistent: bool = True):
        self.categories = categories
        self.consistent = consistent

    def _wanted(self) -> frozenset:
        if self.categories is None:
            return frozenset(CATEGORIES)
        if isinstance(self.categories, str):
            raise TypeError(
                f"categories must be an iterable of category names, got the string "
                f"{self.categories!r}; wrap it in a list"
            )
        wanted = frozenset(self.categories)
        unknown = wanted - set(CATEGORIES) - set(OPTIONAL_CATEGORIES)
        if unknown:
            raise ValueError(
                f"categories: unknown {sorted(unknown)}; expected names from "
                f"{CATEGORIES + OPTIONAL_CATEGORIES}"
            )
        return wanted

    def find(self, text: str) -> list[Span]:
        """Return the non-overlapping PII spans in ``text``, sorted by start.

        Parameters
        ----------
        text : str

        Returns
        -------
        list of Span
            ``Span(start, end, category, value)`` with ``text[start:end] == value``.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return self._find(text, self._wanted())

    def _find(self, text: str, wanted: frozenset) -> list[Span]:
        spans: list[Span] = []
        # Cheap gates first: most traffic has no "@", "=", key-like word or long number,
        # and each skipped detector saves a full regex scan of the text.
        low = text.lower()
        # str.count runs at C speed; PHONE, CARD, SSN and IBAN all need 8+ digits.
        n_digits = sum(map(text.count, "0123456789"))
        urls = (
            [m.span() for m in _URL_RE.finditer(text)]
            if n_digits >= 8 and ("://" in text or "www." in low)
            else []
        )
        if "SECRET" in wanted:
            present = {k for k in _SECRET_KEYS if k in low}
            if present:
                spans += _find_secrets(text, present)
        if "URL_TOKEN" in wanted and "=" in text:
            spans += [
                Span(m.start(1), m.end(1), "URL_TOKEN", m.group(1))
                for m in _URL_TOKEN_RE.finditer(text)
            ]
        if "@" in text:
            if "EMAIL" in wanted:
                spans += [Span(*m.span(), "EMAIL", m.group()) for m in _EMAIL_RE.finditer(text)]
            if "HANDLE" in wanted:
                spans += [Span(*m.span(), "HANDLE", m.group()) for m in _HANDLE_RE.finditer(text)]
        if n_digits >= 8:
            if "IBAN" in wanted:
                spans += _find_ibans(text, urls)
            if wanted & {"PHONE", "CARD", "SSN"}:
                spans += _find_chains(text, urls, wanted)
        if "IP" in wanted and n_digits >= 2 and (text.count(".") >= 3 or text.count(":") >= 2):
            spans += _find_ips(text)
        return _resolve(spans)

    def redact(self, texts: Sequence[str]) -> list[str]:
        """Return ``texts`` with every detected span replaced by a typed placeholder.

        Parameters
        ----------
        texts : sequence of str, length n

        Returns
        -------
        list of str, length n
        """
        texts = _check_texts(texts)
        wanted = self._wanted()
        # Traffic logs repeat texts a lot; detect once per distinct text.
        found = {t: self._find(t, wanted) for t in dict.fromkeys(texts)}
        labels = self._placeholders(texts, found)
        out = []
        for t in texts:
            spans = found[t]
            if not spans:
                out.append(t)
                continue
            parts, pos = [], 0
            for sp in spans:
                parts += [t[pos : sp.start], labels[sp.category, _normalize(sp)]]
                pos = sp.end
            parts.append(t[pos:])
            out.append("".join(parts))
        return out

    def _placeholders(self, texts: Sequence[str], found: dict) -> dict[tuple[str, str], str]:
        seen: dict[str, dict[str, None]] = {}
        for t in texts:
            for sp in found[t]:
                seen.setdefault(sp.category, {})[_normalize(sp)] = None
        labels = {}
        for category, values in seen.items():
            numbered = self.consistent and len(values) > 1
            for i, value in enumerate(values, 1):
                labels[category, value] = f"[{category}_{i}]" if numbered else f"[{category}]"
        return labels


class IdentityRedactor:
    """Leaves texts unchanged: what ``redactor=None`` / ``False`` means."""

    def redact(self, texts: Sequence[str]) -> list[str]:
        return list(_check_texts(texts))


class _CallableRedactor:
    """Adapts a ``str -> str`` function to the :class:`Redactor` protocol."""

    def __init__(self, func: Callable[[str], str]):
        self.func = func

    def redact(self, texts: Sequence[str]) -> list[str]:
        out = []
        for i, t in enumerate(_check_texts(texts)):
            r = self.func(t)
            if not isinstance(r, str):
                raise TypeError(
                    f"redactor {self.func!r} returned {type(r).__name__} for texts[{i}]; "
                    "a callable redactor must map str to str"
                )
            out.append(r)
        return out


class PresidioRedactor:
    """Redactor backed by Microsoft Presidio's analyzer (names, locations, ... too).

    Parameters
    ----------
    analyzer : presidio_analyzer.AnalyzerEngine or None, default=None
        A ready analyzer. None builds the default one, which needs the spaCy model
        ``en_core_web_lg`` installed (it is never downloaded at run time).
    language : str, default="en"
    entities : list of str or None, default=None
        Presidio entity types to redact; None means all the analyzer supports.
    score_threshold : float, default=0.5
        Detections scoring below this are kept in the text.

    Placeholders use evalcov's names where they exist (``EMAIL_ADDRESS`` -> ``[EMAIL]``,
    ``PHONE_NUMBER`` -> ``[PHONE]`` ...) and Presidio's otherwise (``[PERSON]``).
    """

    _NAMES = {
        "EMAIL_ADDRESS": "EMAIL",
        "PHONE_NUMBER": "PHONE",
        "CREDIT_CARD": "CARD",
        "IBAN_CODE": "IBAN",
        "US_SSN": "SSN",
        "IP_ADDRESS": "IP",
    }

    def __init__(self, analyzer=None, language="en", entities=None, score_threshold=0.5):
        try:
            import presidio_analyzer
        except ImportError as exc:
            raise ImportError(
                'redactor="presidio" needs the presidio-analyzer package (pip install '
                'presidio-analyzer) and a spaCy model; use redactor="default" otherwise'
            ) from exc
        if analyzer is None:
            import spacy.util

            if not spacy.util.is_package("en_core_web_lg"):
                raise ImportError(
                    "PresidioRedactor's default analyzer needs the spaCy model en_core_web_lg "
                    "installed (evalcov never downloads models at run time); install it or "
                    "pass analyzer=AnalyzerEngine(...) built on a model you have"
                )
            analyzer = presidio_analyzer.AnalyzerEngine()
        self.analyzer = analyzer
        self.language = language
        self.entities = entities
        self.score_threshold = score_threshold

    def redact(self, texts: Sequence[str]) -> list[str]:
        out = []
        for t in _check_texts(texts):
            results = self.analyzer.analyze(
                text=t,
                language=self.language,
                entities=self.entities,
                score_threshold=self.score_threshold,
            )
            kept: list = []
            for r in sorted(results, key=lambda r: (-r.score, r.start - r.end)):
                if all(r.end <= k.start or r.start >= k.end for k in kept):
                    kept.append(r)
            for r in sorted(kept, key=lambda r: r.start, reverse=True):
                label = self._NAMES.get(r.entity_type, r.entity_type)
                t = f"{t[: r.start]}[{label}]{t[r.end :]}"
            out.append(t)
        return out


# ------------------------------------------------------------------------ front door


def _check_texts(texts: Sequence[str]) -> Sequence[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence | Iterable):
        raise TypeError(f"texts must be a sequence of str, got {type(texts).__name__}")
    texts = texts if isinstance(texts, Sequence) else list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be str, got {type(t).__name__}: {t!r:.80}")
    return texts


def get_redactor(spec: Redactor | Callable[[str], str] | str | bool | None = "default") -> Redactor:
    """Turn a redactor spec into an object with ``.redact(texts) -> list[str]``.

    Parameters
    ----------
    spec : {"default", "presidio"}, bool, None, Redactor or callable, default="default"
        ``"default"`` or True: :class:`RegexRedactor`. ``"presidio"``:
        :class:`PresidioRedactor` (ImportError if presidio-analyzer is missing).
        None, False or ``"none"``: texts pass unchanged. An object with ``.redact`` is
        used as is; a callable is applied to each text and must return str.

    Returns
    -------
    Redactor
    """
    if spec is None or spec is False:
        return IdentityRedactor()
    if spec is True:
        return RegexRedactor()
    if isinstance(spec, str):
        key = spec.lower()
        if key in ("default", "regex"):
            return RegexRedactor()
        if key == "presidio":
            return PresidioRedactor()
        if key == "none":
            return IdentityRedactor()
        raise ValueError(
            f"redactor: unknown name {spec!r}; expected 'default', 'presidio', 'none', None, "
            "a callable str -> str or an object with .redact(texts)"
        )
    if callable(getattr(spec, "redact", None)):
        return spec
    if callable(spec):
        return _CallableRedactor(spec)
    raise TypeError(
        f"redactor must be a name, None/bool, a callable str -> str or an object with "
        f".redact(texts), got {type(spec).__name__}"
    )


def redact(
    texts: str | Sequence[str],
    redactor: Redactor | Callable[[str], str] | str | bool | None = "default",
) -> str | list[str]:
    """Redact PII from one text or a batch of texts.

    Parameters
    ----------
    texts : str or sequence of str
        A single text returns a single str; a sequence returns a list of the same length.
    redactor : see :func:`get_redactor`, default="default"

    Returns
    -------
    str or list of str

    Examples
    --------
    >>> redact(["a@x.com wrote", "b@y.org and a@x.com"])
    ['[EMAIL_1] wrote', '[EMAIL_2] and [EMAIL_1]']
    >>> redact("card 4111 1111 1111 1111, order #123456789")
    'card [CARD], order #123456789'
    """
    r = get_redactor(redactor)
    batch = [texts] if isinstance(texts, str) else _check_texts(texts)
    out = r.redact(batch)
    if len(out) != len(batch):
        raise ValueError(
            f"redactor {r!r} returned {len(out)} texts for {len(batch)}; a redactor must "
            "return one text per input"
        )
    return out[0] if isinstance(texts, str) else list(out)
