"""Property: a pack of letters made from any Unicode text in every field is either a valid PDF
that prints each field as typed, or a 422 naming a field; never a 500, never text lost."""

import os
import re
import unicodedata
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.glyphs import printable
from app.main import create_app
from app.settings import Settings
from app.storage.db import migrate
from tests.reading import pdf_text

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "40"))
FIELDS = {"name": 120, "street": 200, "postcode": 20, "city": 100, "message": 2000}

REASONS: list[str] = []
COUNTED = {"tried": 0, "printed": 0, "refused": 0}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('properties') / 'letters.db'}"
    migrate(url)
    app = create_app(Settings(database_url=url, secret_key="property-tests-secret-key-32chars"))
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()
    print(f"\nproperty examples: {COUNTED}; most frequent refusals:")
    for reason, times in Counter(REASONS).most_common(5):
        print(f"  {times} × {reason}")


PRINTABLE = sorted(
    chr(code)
    for code in printable()
    if unicodedata.category(chr(code)) not in ("Cc", "Cs", "Zl", "Zp")
)
TRICKY = list("Әәңғүұқөһі ﬁ€☺♥") + ["\u0301", "\u0308", "\u200d", "\u200f", "\u00ad"]


def printable_text(max_size: int, min_size: int) -> st.SearchStrategy[str]:
    """Text the fonts can print (every character some installed font has), with the scripts
    and marks that make trouble weighted up."""
    alphabet = st.one_of(st.sampled_from(PRINTABLE), st.sampled_from(TRICKY))
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def any_text(max_size: int) -> st.SearchStrategy[str]:
    """Any character but a lone surrogate (JSON's UTF-8 cannot carry one; the hostile input
    tests send it escaped)."""
    return st.text(st.characters(codec="utf-8"), max_size=max_size)


REQUIRED = ("name", "street", "city")
PRINTABLE_FIELDS = st.fixed_dictionaries(
    {f: printable_text(limit + 5, int(f in REQUIRED)) for f, limit in FIELDS.items()}
)
ANY_FIELDS = st.fixed_dictionaries({f: any_text(limit + 5) for f, limit in FIELDS.items()})


def printed_form(value: str) -> str:
    """What pdftotext can give back of a text: compatibility forms folded, nothing invisible,
    no spaces (lines wrap anywhere) and no hyphens (pdftotext joins hyphenated line ends)."""
    value = unicodedata.normalize("NFKC", value)
    kept = [
        ch
        for ch in value
        if not ch.isspace() and ch != "-" and unicodedata.category(ch) not in ("Cf", "Mn", "Me")
    ]
    return "".join(kept)


@pytest.mark.slow  # a pack for each of many examples
@given(
    fields=st.one_of(PRINTABLE_FIELDS, PRINTABLE_FIELDS, PRINTABLE_FIELDS, ANY_FIELDS),
    language=st.sampled_from(["en", "ru", "kk"]),
)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="PROPERTY_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_text_gives_a_pdf_with_the_text_or_a_422_naming_a_field(client, fields, language):
    body = {
        **fields,
        "country": "KZ",
        "language": language,
        "recipients": ["ombudsman"],
        "signature": {"kind": "typed"},
    }
    response = client.post("/api/letters", json=body)
    COUNTED["tried"] += 1
    if response.status_code == 422:
        COUNTED["refused"] += 1
        named = {problem["loc"][1] for problem in response.json()["detail"]}
        REASONS.extend(p["msg"][:60] for p in response.json()["detail"])
        assert named <= set(FIELDS) and named, response.text
        return
    assert response.status_code == 200, response.text[:500]
    COUNTED["printed"] += 1
    assert response.content.startswith(b"%PDF-")
    printed = printed_form(pdf_text(response.content))
    printed = re.sub("[\u200b-\u200f\u202a-\u202e]", "", printed)
    for field, value in fields.items():
        expected = printed_form(value.strip())
        if any(unicodedata.bidirectional(ch) in ("R", "AL", "AN") for ch in expected):
            # The page holds right-to-left runs in visual order (Unicode's bidi algorithm);
            # every character must be there all the same.
            assert not Counter(expected) - Counter(printed), (field, value)
        else:
            assert expected in printed, (field, value)
