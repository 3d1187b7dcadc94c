"""PII redaction: each category found in several formats, near-misses left alone, checks,
placeholders, pluggable redactors, bad input."""

from __future__ import annotations

import importlib.util

import pytest

from evalcov.redact import (
    CATEGORIES,
    IdentityRedactor,
    RegexRedactor,
    Span,
    get_redactor,
    iban_valid,
    luhn_valid,
    redact,
)


def one(text: str) -> str:
    return RegexRedactor(consistent=False).redact([text])[0]


def categories(text: str) -> list[str]:
    return [sp.category for sp in RegexRedactor().find(text)]


POSITIVES = {
    "EMAIL": [
        "bob@example.com",
        "Anna.Smith+news@mail.example.co.uk",
        "first_last42@uni-example.edu",
        "KOWALSKI.Jan@EXAMPLE.IO",
    ],
    "PHONE": [
        "+44 20 7946 0958",
        "+1-202-555-0143",
        "+1 (202) 555-0143",
        "0044 20 7946 0958",
        "+49 (0)30 1234567",
        "+254711303113",
        "(202) 555-0143",
        "202.555.0143",
        "1-800-555-0199",
        "020 7946 0958",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "0151 1234567",
        "07911 123456",
        "+7 (495) 123-45-67",
        "612 34 56 78",
    ],
    "CARD": [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782 822463 10005",  # Amex 4-6-5
        "6011000990139424",
        "4222222222222",  # 13-digit Visa
    ],
    "IBAN": [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "FR1420041010050500013M02606",
        "NL91 ABNA 0417 1643 00",
        "de89370400440532013000",
    ],
    "SSN": ["123-45-6789", "078 05 1120", "536-90-4399"],
    "IP": ["192.168.1.10", "8.8.8.8", "2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a"],
    "SECRET": [
        "sk-" + "a1B2c3D4e5" * 5,
        "sk-proj-" + "Ab3_-x" * 10,
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "aB3dE6" * 6,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-123456789012-abcdefghijklmnop",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
}


@pytest.mark.parametrize(("category", "value"), [(c, v) for c, vs in POSITIVES.items() for v in vs])
def test_each_format_is_redacted_with_its_typed_placeholder(category, value):
    text = f"hi, mine is {value}, thanks"
    assert one(text) == f"hi, mine is [{category}], thanks"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcDEF123456.xyz_789", "Authorization: Bearer [SECRET]"),
        ("password: hunter2", "password: [SECRET]"),
        ("login pwd=s3cr3t&3 ok", "login pwd=[SECRET] ok"),
        ('{"api_key": "abc123def456"}', '{"api_key": "[SECRET]"}'),
        ("my password is Tr0ub4dor!", "my password is [SECRET]"),
        ("https://x.io/cb?token=abc123XYZ&lang=en", "https://x.io/cb?token=[URL_TOKEN]&lang=en"),
        ("see https://x.io/a?access_token=q1w2e3", "see https://x.io/a?access_token=[URL_TOKEN]"),
        ("GET /v1?api_key=K3y&sig=Zz9%2F", "GET /v1?api_key=[URL_TOKEN]&sig=[URL_TOKEN]"),
        ("call me on 07911123456", "call me on [PHONE]"),
        ("my SSN is 123456789", "my SSN is [SSN]"),
    ],
)
def test_secrets_and_contextual_forms_redact_only_the_value(text, expected):
    assert one(text) == expected


NEAR_MISSES = [
    "order #123456789",
    "ORD-2023-000123",
    "order number 1234567890",
    "on 2024-01-15 at 10:30",
    "15/01/2024 and 01.02.2024 at 14:05:33",
    "2024-03-12T10:30:00Z",
    "total $1,299.99 or €12.50",
    "tracking 4111 1111 1111 1112",  # fails Luhn
    "parcel 9400 1000 0000 0000 0000 00",
    "UPS 1Z999AA10123456784",
    "version 1.2.3.4",
    "v10.0.0.1",
    "updated to beta (1.16.0.53)",
    "build 10.0.19041.1",
    "since 2019, 3 x 250g, 42 items, 12.5%",
    "ISBN 978-3-16-148410-0",
    "1920x1080",
    "GB82 WEST 1234 5698 7654 33",  # mod-97 fails
    "666-12-3456, 000-12-3456, 900-12-3456",  # invalid SSN areas
    "std::vector<int>, a::b, 12:30:45",
    "https://web.archive.org/web/20200401224734/https://support.example.com/answer/185111",
    "https://twitter.com/someone/status/1245403438755852288",
    "my password is wrong",
    "forgot my password, api key not working",
    "@TeamYouTube @William77258209 hi",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "id 123e4567-e89b-12d3-a456-426614174000",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text):
    assert one(text) == text


def test_luhn_and_mod97_checks():
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111111a1111111")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert iban_valid("gb82west12345698765432")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")  # check digits off
    assert not iban_valid("GB82 WEST 1234 5698 7654 3")  # wrong length for GB
    assert not iban_valid("ZZ82WEST12345698765432")  # no such country


def test_iban_does_not_swallow_the_next_word():
    text = "IBAN GB82 WEST 1234 5698 7654 32 THANKS"
    assert one(text) == "IBAN [IBAN] THANKS"


def test_find_returns_spans_that_index_the_text():
    text = "Écrivez à jean@exemple.fr ou au +33 6 12 34 56 78 — merci"
    spans = RegexRedactor().find(text)
    assert [sp.category for sp in spans] == ["EMAIL", "PHONE"]
    for sp in spans:
        assert isinstance(sp, Span)
        assert text[sp.start : sp.end] == sp.value
    assert spans[1].value == "+33 6 12 34 56 78"


def test_placeholders_are_numbered_and_consistent_within_a_batch():
    out = redact(
        [
            "a@x.com wrote to b@y.org",
            "B@Y.org again, and a@x.com",
            "card 4111 1111 1111 1111",
            "card 4111-1111-1111-1111 (same card, other format)",
        ]
    )
    assert out == [
        "[EMAIL_1] wrote to [EMAIL_2]",
        "[EMAIL_2] again, and [EMAIL_1]",
        "card [CARD]",
        "card [CARD] (same card, other format)",
    ]
    # Numbers restart with every call: nothing links two separate exports.
    assert redact(["b@y.org"]) == ["[EMAIL]"]


def test_inconsistent_mode_uses_bare_placeholders():
    out = RegexRedactor(consistent=False).redact(["a@x.com", "b@y.org"])
    assert out == ["[EMAIL]", "[EMAIL]"]


def test_category_subset_and_opt_in_handles():
    text = "@janedoe mail a@x.com or call 020 7946 0958"
    assert RegexRedactor(categories=["EMAIL"]).redact([text]) == [
        "@janedoe mail [EMAIL] or call 020 7946 0958"
    ]
    with_handles = RegexRedactor(categories=CATEGORIES + ("HANDLE",))
    assert with_handles.redact([text]) == ["[HANDLE] mail [EMAIL] or call [PHONE]"]
    with pytest.raises(ValueError, match="categories.*'NAME'"):
        RegexRedactor(categories=["EMAIL", "NAME"]).redact([text])
    with pytest.raises(TypeError, match="categories"):
        RegexRedactor(categories="EMAIL").redact([text])


def test_overlaps_resolve_to_one_placeholder():
    # A JWT in a URL query is one secret, not a secret inside a URL token.
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N"
    assert one(f"https://x.io/cb?token={jwt}") == "https://x.io/cb?token=[SECRET]"
    # A password that happens to pass Luhn stays one SECRET.
    assert categories("password=4111111111111111") == ["SECRET"]


def test_unicode_around_redactions_is_untouched():
    text = "电话020 7946 0958谢谢，邮件 jean@exemple.fr。Здравствуйте 😡 +44 20 7946 0958!"
    assert one(text) == "电话[PHONE]谢谢，邮件 [EMAIL]。Здравствуйте 😡 [PHONE]!"


def test_digits_of_other_scripts_are_not_parsed_as_numbers():
    text = "٤١١١١١١١١١١١١١١١ and 4111111111111111"
    assert one(text) == "٤١١١١١١١١١١١١١١١ and [CARD]"


def test_text_without_pii_comes_back_identical():
    texts = ["", "   ", "no pii here", "ümlaut ✓ 🚀", "line\nbreak\ttab"]
    assert redact(texts) == texts


def test_single_string_in_single_string_out():
    assert redact("write to a@x.com") == "write to [EMAIL]"


@pytest.mark.parametrize("spec", [None, False, "none"])
def test_identity_redactor(spec):
    texts = ["a@x.com", "+44 20 7946 0958"]
    assert redact(texts, redactor=spec) == texts
    assert isinstance(get_redactor(spec), IdentityRedactor)


def test_callable_and_object_redactors_plug_in():
    assert redact(["Hello a@x.com"], redactor=str.upper) == ["HELLO A@X.COM"]

    class Stars:
        def redact(self, texts):
            return ["*" * len(t) for t in texts]

    assert redact(["abc", "de"], redactor=Stars()) == ["***", "**"]
    assert redact("abc", redactor=Stars()) == "***"
    assert isinstance(get_redactor(True), RegexRedactor)
    assert isinstance(get_redactor("default"), RegexRedactor)


def test_misbehaving_redactors_are_caught():
    with pytest.raises(TypeError, match=r"texts\[0\].*str to str"):
        redact(["abc"], redactor=lambda t: None)

    class Drops:
        def redact(self, texts):
            return list(texts)[1:]

    with pytest.raises(ValueError, match="returned 1 texts for 2"):
        redact(["a", "b"], redactor=Drops())


def test_bad_redactor_spec():
    with pytest.raises(ValueError, match="unknown name 'regexx'"):
        get_redactor("regexx")
    with pytest.raises(TypeError, match="redactor must be"):
        get_redactor(42)


def test_non_string_input_names_the_position():
    with pytest.raises(TypeError, match=r"texts\[2\] must be str, got int"):
        redact(["ok", "fine", 3])
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, got NoneType"):
        RegexRedactor().redact(["ok", None])
    with pytest.raises(TypeError, match="texts must be a sequence of str, got int"):
        redact(5)
    with pytest.raises(TypeError, match="text must be str"):
        RegexRedactor().find(b"bytes")


def test_presidio_path():
    if importlib.util.find_spec("presidio_analyzer") is None:
        with pytest.raises(ImportError, match="presidio-analyzer"):
            get_redactor("presidio")
        pytest.skip("presidio-analyzer is not installed; checked the clear ImportError only")
    try:
        r = get_redactor("presidio")
    except ImportError as exc:  # installed without a spaCy model: must say so, not download
        assert "en_core_web_lg" in str(exc)
        pytest.skip("presidio-analyzer installed without its spaCy model")
    assert r.redact(["mail bob@example.com"]) == ["mail [EMAIL]"]


def test_duplicate_texts_get_identical_output():
    texts = ["call +1-202-555-0143"] * 3 + ["x"]
    assert redact(texts) == ["call [PHONE]"] * 3 + ["x"]
