"""A deterministic, labeled synthetic PII corpus for benchmarking redaction.

Every text is built from templates and vocabularies written for this benchmark (no
real person's data). Positive texts carry one or two PII values with their character
spans; negative texts carry near-misses that a careless redactor would hit (order
numbers, dates, times, prices, tracking numbers failing Luhn, version strings, ids in
URLs, IBANs and SSNs with bad checks). Many texts mix a positive with a near-miss, so
precision is measured on the same texts as recall.

``generate(seed=0)`` always returns the same list of :class:`Example`.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Example:
    """One text with its true PII spans ``(start, end, category)`` and what it was built from."""

    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


FIRST = ["anna", "bob", "chloé", "dmitri", "emma", "farah", "guo", "hiro", "ines", "jamal",
         "kofi", "lena", "mateo", "nina", "olu", "priya", "quinn", "rosa", "sven",
         "tariq"]  # fmt: skip
LAST = ["smith", "garcia", "nguyen", "müller", "okafor", "kowalski", "tanaka", "rossi",
        "dubois", "patel", "silva", "johansson", "kim", "novak", "haddad", "oconnor"]  # fmt: skip
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "uni-example.edu",
           "example.io", "shop.example.de", "example.fr", "post.example.net"]  # fmt: skip

# Sentence frames shared by all categories; "{x}" is the PII value, "{n}" a near-miss.
FRAMES = [
    "Hi, my {what} is {x}, can you help with my order?",
    "{x}",
    "please update it to {x} asap",
    "Contact: {x}.",
    "Sent from {x} on {n}",
    "({x}) — see ticket {n}",
    "Écrivez-moi: {x} — merci beaucoup !",
    "已发送到 {x}，请查收。",
    "Здравствуйте, {what}: {x}, спасибо",
    "{what}={x}; ref {n}",
    "I tried {x} three times yesterday, still nothing. Order {n}",
    "@support_team my {what} {x} isn't working 😡 since {n}",
    "Updated details:\n{what}: {x}\nref: {n}",
    "can u check {x}?? thx",
]


def _rand_digits(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(k))


def _luhn_complete(prefix: str) -> str:
    """Append the digit that makes ``prefix`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(prefix + "0")):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return prefix + str((10 - total % 10) % 10)


def _group(digits: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(digits[i : i + s])
        i += s
    if i < len(digits):
        out.append(digits[i:])
    return sep.join(x for x in out if x)


# ------------------------------------------------------------------ value generators


def email(rng: random.Random) -> str:
    f, la, d = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
    f = f.replace("é", "e").replace("ü", "u")
    la = la.replace("ü", "u")
    local = rng.choice(
        [f"{f}.{la}", f"{f}_{la}{rng.randint(1, 99)}", f"{f[0]}{la}", f"{f}+news",
         f"{f}.{la}{rng.randint(1970, 2005)}", f"{la.upper()}.{f.title()}", f"{f}-{la}"]
    )  # fmt: skip
    return f"{local}@{d}"


def phone(rng: random.Random) -> str:
    kind = rng.randrange(29)
    if kind >= 17:
        return _phone_more(rng, kind - 17)
    nxx = lambda: str(rng.randint(2, 9)) + _rand_digits(rng, 2)  # noqa: E731
    if kind == 0:
        return f"+44 20 {_rand_digits(rng, 4)} {_rand_digits(rng, 4)}"
    if kind == 1:
        return f"+1-{nxx()}-{nxx()}-{_rand_digits(rng, 4)}"
    if kind == 2:
        return f"+1 ({nxx()}) {nxx()}-{_rand_digits(rng, 4)}"
    if kind == 3:
        return f"0044 20 {_rand_digits(rng, 4)} {_rand_digits(rng, 4)}"
    if kind == 4:
        return f"+33 6 {' '.join(_rand_digits(rng, 2) for _ in range(4))}"
    if kind == 5:
        return f"+49 (0)30 {_rand_digits(rng, 7)}"
    if kind == 6:
        return f"+254{rng.randint(7, 7)}{_rand_digits(rng, 8)}"
    if kind == 7:
        return f"+91 {rng.randint(6, 9)}{_rand_digits(rng, 4)} {_rand_digits(rng, 5)}"
    if kind == 8:
        return f"({nxx()}) {nxx()}-{_rand_digits(rng, 4)}"
    if kind == 9:
        return f"{nxx()}-{nxx()}-{_rand_digits(rng, 4)}"
    if kind == 10:
        return f"{nxx()}.{nxx()}.{_rand_digits(rng, 4)}"
    if kind == 11:
        return f"1-800-{nxx()}-{_rand_digits(rng, 4)}"
    if kind == 12:
        return f"020 {_rand_digits(rng, 4)} {_rand_digits(rng, 4)}"
    if kind == 13:
        sep = rng.choice([" ", "."])
        return f"0{rng.choice('67')}{sep}" + sep.join(_rand_digits(rng, 2) for _ in range(4))
    if kind == 14:
        return f"0151 {_rand_digits(rng, 7)}"
    if kind == 15:
        return f"07{_rand_digits(rng, 3)} {_rand_digits(rng, 6)}"
    return f"+61 4{_rand_digits(rng, 2)} {_rand_digits(rng, 3)} {_rand_digits(rng, 3)}"


def _phone_more(rng: random.Random, kind: int) -> str:
    d = lambda k: _rand_digits(rng, k)  # noqa: E731
    return [
        f"+44 7{d(3)} {d(6)}",
        f"+1 {rng.randint(2, 9)}{d(2)} {rng.randint(2, 9)}{d(2)} {d(4)}",
        f"+44-20-{d(4)}-{d(4)}",
        f"020-{d(4)}-{d(4)}",
        f"(020) {d(4)} {d(4)}",
        f"+353 (0)1 {d(3)} {d(4)}",
        f"+7 (495) {d(3)}-{d(2)}-{d(2)}",
        f"+86 13{d(1)} {d(4)} {d(4)}",
        f"+81 3-{d(4)}-{d(4)}",
        f"0151 {d(8)}",
        f"+4420{d(8)}",
        f"6{d(2)} {d(2)} {d(2)} {d(2)}",
    ][kind]


def phone_with_context(rng: random.Random) -> tuple[str, str]:
    """Unseparated national numbers: only findable with a cue word in front."""
    value = rng.choice([f"07{_rand_digits(rng, 9)}", f"0{rng.randint(1, 9)}{_rand_digits(rng, 8)}"])
    cue = rng.choice(["call me on", "my phone number is", "mobile:", "tel.", "whatsapp me at"])
    return cue, value


CARD_BRANDS = [  # (prefix choices, length, grouping)
    (["4"], 16, [4, 4, 4, 4]),
    (["4"], 13, [4, 4, 4, 1]),
    (["4"], 19, [4, 4, 4, 4, 3]),
    (["51", "52", "53", "54", "55", "2221", "2720"], 16, [4, 4, 4, 4]),
    (["34", "37"], 15, [4, 6, 5]),
    (["6011", "65"], 16, [4, 4, 4, 4]),
    (["3528", "3589"], 16, [4, 4, 4, 4]),
    (["36", "38"], 14, [4, 6, 4]),
    (["62"], 17, [4, 4, 4, 5]),
]


def card(rng: random.Random, valid: bool = True) -> str:
    prefixes, length, groups = rng.choice(CARD_BRANDS)
    p = rng.choice(prefixes)
    digits = _luhn_complete(p + _rand_digits(rng, length - len(p) - 1))
    if not valid:
        digits = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)
    sep = rng.choice(["", " ", "-"])
    return digits if not sep else _group(digits, groups, sep)


IBAN_SPECS = [  # country, BBAN layout (n: digit, a: upper letter, c: alphanumeric)
    ("GB", "aaaannnnnnnnnnnnnn"),
    ("DE", "nnnnnnnnnnnnnnnnnn"),
    ("FR", "nnnnnnnnnnnnnnnnnnnnnnn"),
    ("ES", "nnnnnnnnnnnnnnnnnnnn"),
    ("NL", "aaaannnnnnnnnn"),
    ("IT", "annnnnnnnnncccccccccccc"),
    ("BE", "nnnnnnnnnnnn"),
    ("CH", "nnnnncccccccccccc"),
    ("PL", "nnnnnnnnnnnnnnnnnnnnnnnn"),
    ("NO", "nnnnnnnnnnn"),
    ("SA", "nnnnnnnnnnnnnnnnnnnn"),
    ("BR", "nnnnnnnnnnnnnnnnnnnnnnnac"),
]


def iban(rng: random.Random, valid: bool = True) -> str:
    country, layout = rng.choice(IBAN_SPECS)
    pools = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + "ABCDEFGH"}
    bban = "".join(rng.choice(pools[c]) for c in layout)
    num = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    check = 98 - num % 97
    if not valid:
        check = (check + rng.randint(1, 90) - 2) % 97 + 2
    value = f"{country}{check:02d}{bban}"
    form = rng.randrange(3)
    if form == 0:
        return value
    spaced = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return spaced if form == 1 else value.lower() if rng.random() < 0.3 else spaced


def ssn(rng: random.Random, valid: bool = True) -> str:
    area = rng.randint(1, 899)
    while area == 666:
        area = rng.randint(1, 899)
    if not valid:
        area = rng.choice([0, 666, rng.randint(900, 999)])
    digits = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    sep = rng.choice(["-", "-", " "])
    return f"{digits[:3]}{sep}{digits[3:5]}{sep}{digits[5:]}"


def ipv4(rng: random.Random) -> str:
    first = rng.choice([10, 172, 192, rng.randint(11, 223)])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    form = rng.randrange(4)
    if form == 0:
        return ":".join(groups)
    if form == 1:
        return "2001:db8::" + ":".join(groups[:3])
    if form == 2:
        return "fe80::" + ":".join(groups[:4])
    return f"::ffff:192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _token(rng: random.Random, k: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(k))


def secret(rng: random.Random) -> tuple[str, str, str]:
    """Return (text before, secret, text after); only the middle is the PII span."""
    b64u = string.ascii_letters + string.digits + "-_"
    kind = rng.randrange(12)
    if kind == 0:
        pre = rng.choice(["sk-", "sk-ant-api03-", "glpat-", "hf_"])
        alphabet = string.ascii_letters if pre == "hf_" else string.ascii_letters + string.digits
        return (
            "my key ",
            pre + _token(rng, 34 if pre == "hf_" else 48, alphabet),
            " stopped working",
        )
    if kind == 1:
        return "OPENAI_API_KEY=", "sk-proj-" + _token(rng, 64, b64u), ""
    if kind == 2:
        return "aws id ", "AKIA" + _token(rng, 16, string.ascii_uppercase + string.digits), ""
    if kind == 3:
        return "token ", "ghp_" + _token(rng, 36), " leaked in CI"
    if kind == 4:
        return "pat: ", "github_pat_" + _token(rng, 22) + "_" + _token(rng, 59), ""
    if kind == 5:
        return "slack ", f"xox{rng.choice('bp')}-{_rand_digits(rng, 12)}-{_token(rng, 24)}", ""
    if kind == 6:
        jwt = (
            "eyJ"
            + _token(rng, 30, b64u)
            + ".eyJ"
            + _token(rng, 60, b64u)
            + "."
            + _token(rng, 43, b64u)
        )
        return "session cookie ", jwt, " expired"
    if kind == 7:
        return "Authorization: Bearer ", _token(rng, 40, b64u + "."), ""
    if kind == 8:
        return rng.choice(["password: ", "Password=", "pwd=", "passwort: "]), _password(rng), ""
    if kind == 9:
        return '{"api_key": "', _token(rng, 32), '"}'
    if kind == 10:
        return "my password is ", _password(rng), " lol"
    return "stripe ", "sk_live_" + _token(rng, 24), ""


def _password(rng: random.Random) -> str:
    word = rng.choice(["sunshine", "dragon", "Tr0ub4dor", "hunter", "Montréal", "qwerty"])
    return word + rng.choice(["2", "!", "#1", "_99", "2024!", "&3"])


def url_token(rng: random.Random) -> tuple[str, str, str]:
    host = rng.choice(["https://app.example.com", "http://cdn.example.net", "https://example.io"])
    path = rng.choice(["/reset", "/download/file.pdf", "/callback", "/v1/share"])
    param = rng.choice(["token", "access_token", "api_key", "sig", "X-Amz-Signature", "code"])
    lead = rng.choice(["?", "?lang=en&"])
    value = _token(rng, rng.randint(16, 40), string.ascii_letters + string.digits + "-_%")
    tail = rng.choice(["", "&utm_source=mail", "&expires=1712345678"])
    return f"link {host}{path}{lead}{param}=", value, f"{tail} doesn't open"


# --------------------------------------------------------------------- near-misses


def near_miss(rng: random.Random) -> tuple[str, str]:
    """Return (kind, text) of something that must not be redacted."""
    d = lambda k: _rand_digits(rng, k)  # noqa: E731
    ri = rng.randint
    hexd = "0123456789abcdef"
    archive = "https://web.archive.org/web/2020"
    words = ["forgot my password again", "password reset link expired", "the password is wrong",
             "api key not working", "token expired"]  # fmt: skip
    kinds: list[tuple[str, Callable[[], str]]] = [
        ("order_hash", lambda: f"#{d(9)}"),
        ("order_code", lambda: f"ORD-{ri(2015, 2025)}-{d(6)}"),
        ("order_number", lambda: f"order number {ri(10**9, 10**10 - 1)}"),
        ("invoice", lambda: f"INV-{d(6)}"),
        ("date_iso", lambda: f"{ri(2000, 2030)}-{ri(1, 12):02d}-{ri(1, 28):02d}"),
        ("date_eu", lambda: f"{ri(1, 28):02d}/{ri(1, 12):02d}/{ri(2000, 2030)}"),
        ("date_dot", lambda: f"{ri(1, 28):02d}.{ri(1, 12):02d}.{ri(2000, 2030)}"),
        ("datetime", lambda: f"2024-0{ri(1, 9)}-1{ri(0, 9)}T{ri(10, 23)}:{ri(10, 59)}:00Z"),
        ("time", lambda: f"{ri(0, 23):02d}:{ri(0, 59):02d}" + rng.choice(["", ":07", " pm"])),
        ("price", lambda: rng.choice(["$", "€", "£"]) + f"{ri(1, 9)},{d(3)}.{d(2)}"),
        ("tracking_non_luhn", lambda: card(rng, valid=False)),
        ("tracking_ups", lambda: "1Z" + _token(rng, 6, string.ascii_uppercase) + d(10)),
        ("tracking_usps", lambda: f"9400 1{d(3)} {d(4)} {d(4)} {d(4)} {d(2)}"),
        (
            "version",
            lambda: (
                rng.choice(["version ", "v", "build ", "firmware "])
                + ".".join(str(ri(0, 20)) for _ in range(4))
            ),
        ),
        ("year", lambda: f"since {ri(1990, 2030)}"),
        ("quantity", lambda: f"{ri(2, 500)} x {ri(100, 999)}g"),
        ("short_number", lambda: f"{ri(1, 99999)}"),
        ("big_count", lambda: f"{ri(1, 9)},{d(3)},{d(3)} views"),
        ("isbn", lambda: f"ISBN 978-{ri(0, 9)}-{d(3)}-{d(5)}-{ri(0, 9)}"),
        ("zip", lambda: f"ZIP {d(5)}"),
        ("resolution", lambda: rng.choice(["1920x1080", "2560x1440", "3840x2160"])),
        ("archive_url", lambda: f"{archive}{d(10)}/https://support.example.com/answer/{d(7)}"),
        ("status_url", lambda: f"https://twitter.com/someone/status/12{d(17)}"),
        ("bad_iban", lambda: iban(rng, valid=False)),
        ("bad_ssn", lambda: ssn(rng, valid=False)),
        ("git_sha", lambda: _token(rng, 40, hexd)),
        ("uuid", lambda: "-".join(_token(rng, k, hexd) for k in (8, 4, 4, 4, 12))),
        ("handle", lambda: f"@{rng.choice(FIRST).replace('é', 'e')}{d(8)}"),
        ("password_word", lambda: rng.choice(words)),
        ("cpp", lambda: "std::vector<int> and a::b"),
        ("score", lambda: f"{ri(0, 5)}-{ri(0, 5)} final, {ri(10, 99)}%"),
        ("phone_ext_only", lambda: f"ext. {d(4)}"),
    ]
    kind, fn = kinds[rng.randrange(len(kinds))]
    return kind, fn()


# ------------------------------------------------------------------------- assembly

SIMPLE = {"EMAIL": (email, "email"), "PHONE": (phone, "number"), "CARD": (card, "card"),
          "IBAN": (iban, "IBAN"), "SSN": (ssn, "SSN"), "IP": (ipv4, "IP")}  # fmt: skip


def _frame(rng: random.Random, what: str, value: str, category: str) -> Example:
    frame = rng.choice(FRAMES)
    kinds = [category]
    neg = ""
    if "{n}" in frame:
        kind, neg = near_miss(rng)
        kinds.append("neg:" + kind)
    before, after = frame.split("{x}")
    before = before.format(what=what, n=neg)
    after = after.format(what=what, n=neg)
    start = len(before)
    return Example(before + value + after, [(start, start + len(value), category)], kinds)


def _wrapped(pre: str, value: str, post: str, category: str, lead: str = "") -> Example:
    start = len(lead) + len(pre)
    return Example(lead + pre + value + post, [(start, start + len(value), category)], [category])


def generate(n_per_category: int = 300, n_negative: int = 600, seed: int = 0) -> list[Example]:
    """Build the corpus.

    Parameters
    ----------
    n_per_category : int, default=300
        Positive texts per category (EMAIL, PHONE, CARD, IBAN, SSN, IP, SECRET, URL_TOKEN).
    n_negative : int, default=600
        Texts holding only near-misses.
    seed : int, default=0

    Returns
    -------
    list of Example
        Positives first, then negatives, then texts with two PII values.
    """
    rng = random.Random(seed)
    out: list[Example] = []
    for category, (fn, what) in SIMPLE.items():
        for _ in range(n_per_category):
            if category == "IP" and rng.random() < 0.35:
                out.append(_frame(rng, "IPv6", ipv6(rng), "IP"))
            elif category == "PHONE" and rng.random() < 0.12:
                cue, value = phone_with_context(rng)
                out.append(_wrapped(cue + " ", value, rng.choice(["", ".", " thanks"]), "PHONE"))
            else:
                out.append(_frame(rng, what, fn(rng), category))
    for category, fn in (("SECRET", secret), ("URL_TOKEN", url_token)):
        for _ in range(n_per_category):
            pre, value, post = fn(rng)
            lead = rng.choice(["", "hey, ", "Bonjour ! ", "help pls: ", "上周 "])
            out.append(_wrapped(pre, value, post, category, lead))
    for _ in range(n_negative):
        parts = [near_miss(rng) for _ in range(rng.randint(1, 3))]
        text = rng.choice(["", "Hi team, ", "Re: "]) + ", ".join(t for _, t in parts)
        out.append(Example(text, [], ["neg:" + k for k, _ in parts]))
    # Two values in one text: placeholders must not bleed into each other.
    for _ in range(n_per_category // 2):
        a, b = rng.sample(list(SIMPLE), 2)
        va, vb = SIMPLE[a][0](rng), SIMPLE[b][0](rng)
        text = f"{va} / {vb}"
        out.append(Example(text, [(0, len(va), a), (len(va) + 3, len(text), b)], [a, b]))
    return out


if __name__ == "__main__":
    for ex in generate(n_per_category=3, n_negative=5):
        print(repr(ex.text), ex.spans)
