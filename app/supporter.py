"""The one schema for a supporter's request, shared by the command line and the web API."""

import re
import unicodedata
from typing import Annotated, Literal

from babel import Locale
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.campaign import Campaign, Language
from app.glyphs import unprintable
from app.signature_image import JPEG_DATA_URL, MAX_BYTES, printable

MAX_MESSAGE = 2000
# Layout time grows with the number of lines, not characters: hundreds of one-letter paragraphs
# took seconds. 40 lines keep the worst accepted pack near one second (SECURITY.md).
MAX_MESSAGE_LINES = 40
# No written language stacks more marks on one letter than this; "Zalgo" text stacks hundreds,
# which overprint the lines around them.
MAX_COMBINING_RUN = 8
COUNTRIES: frozenset[str] = frozenset(
    code for code in Locale("en").territories if len(code) == 2 and code.isalpha()
) - {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK"}

# Validation context: the countries from which the street may be left out (Supporter.for_campaign).
STREET_OPTIONAL = "street_optional_in"

Paper = Literal["a4", "letter"]
PAPERS: tuple[Paper, ...] = ("a4", "letter")
# Where US Letter (8.5 x 11 in) is the everyday paper, so that a home printer holds it: the
# territories of Unicode CLDR's paperSize "US-Letter" (the locale data browsers and operating
# systems print by), and the US territories served by the US mail. A4 everywhere else.
LETTER_COUNTRIES: frozenset[str] = frozenset(
    {"BZ", "CA", "CL", "CO", "CR", "GT", "MX", "NI", "PA", "PH", "PR", "SV", "US", "VE"}
    | {"AS", "GU", "MP", "UM", "VI"}
)


def usual_paper(country: str) -> Paper:
    """The paper a supporter in this country most likely has in the printer."""
    return "letter" if country.strip().upper() in LETTER_COUNTRIES else "a4"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable_text(value: str) -> str:
    """Text the letters can print as typed: real characters, modest stacks of combining marks,
    and only characters some installed font has (see app/glyphs.py)."""
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise PydanticCustomError("invalid_unicode", "contains a lone surrogate, not a character")
    run = 0
    for char in value:
        run = run + 1 if unicodedata.category(char) in ("Mn", "Me") else 0
        if run > MAX_COMBINING_RUN:
            raise PydanticCustomError(
                "combining_marks",
                "has more than {max} combining marks in a row",
                {"max": MAX_COMBINING_RUN},
            )
    missing = unprintable(value)
    if missing:
        named = ", ".join(
            f"U+{ord(char):04X} {unicodedata.name(char, '(unassigned)')}" for char in missing[:5]
        )
        raise PydanticCustomError(
            "unprintable_character",
            "has characters no font of the letters can print: {characters}",
            {"characters": named},
        )
    return value


def _single_line(value: str) -> str:
    if _CONTROL_LINE.search(value):
        raise ValueError("must not contain control characters or line breaks")
    return value


Line = Annotated[str, StringConstraints(strip_whitespace=True)]


class Drawn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["drawn"]
    image: str = Field(max_length=MAX_BYTES * 4 // 3 + len(JPEG_DATA_URL) + 4)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return printable(value)


class Typed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["typed"]


class OnPaper(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["none"]


Signature = Annotated[Drawn | Typed | OnPaper, Field(discriminator="kind")]


class Supporter(BaseModel):
    """What a supporter gives us for one pack of letters. Nothing of it is stored."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Line, StringConstraints(min_length=1, max_length=120)]
    street: Annotated[Line, StringConstraints(min_length=1, max_length=200)] | None = Field(
        description="Required, except from a country the campaign lists with a risk notice "
        "(campaign.yaml `risk_countries`), where it may be left out, empty or null: the letters "
        "then print name, city and country only."
    )
    postcode: Annotated[Line, StringConstraints(max_length=20)] | None = None
    city: Annotated[Line, StringConstraints(min_length=1, max_length=100)]
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True)]
    language: Language
    recipients: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    message: Annotated[str, StringConstraints(max_length=MAX_MESSAGE)] | None = None
    signature: Signature
    paper: Paper | None = Field(
        None,
        description="`a4` or `letter` (US Letter, for a #10 window envelope); left out or null: "
        "the paper usual in `country` (Letter in the United States, Canada, Mexico, the "
        "Philippines and the other countries that use it, A4 elsewhere).",
    )
    labels: bool = Field(
        False,
        description="End the pack with a page of the officials' addresses to cut out and stick "
        "on plain envelopes, with the campaign's postage advice.",
    )

    @classmethod
    def for_campaign(cls, data: object, campaign: Campaign) -> "Supporter":
        """Validated as `campaign` accepts it: the street optional from its risk countries."""
        return cls.model_validate(
            data, context={STREET_OPTIONAL: frozenset(campaign.case.risk_countries)}
        )

    @model_validator(mode="before")
    @classmethod
    def _street_where_optional(cls, data: object, info: ValidationInfo) -> object:
        """A supporter who writes from a country where signing is a risk may leave out the
        street; anywhere else a street left out or null is missing, as it always was."""
        if not isinstance(data, dict):
            return data
        street, country = data.get("street"), data.get("country")
        optional = (info.context or {}).get(STREET_OPTIONAL, frozenset())
        if isinstance(country, str) and country.strip().upper() in optional:
            if street is None or (isinstance(street, str) and not street.strip()):
                return {**data, "street": None}
        elif street is None:
            return {key: value for key, value in data.items() if key != "street"}
        return data

    @field_validator("name", "street", "postcode", "city")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return None if value is None else printable_text(_single_line(value))

    @field_validator("message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        lines = value.count("\n") + 1
        if lines > MAX_MESSAGE_LINES:
            raise PydanticCustomError(
                "too_many_lines",
                "has {lines} lines; at most {max} are allowed",
                {"lines": lines, "max": MAX_MESSAGE_LINES},
            )
        return printable_text(value) or None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value not in COUNTRIES:
            raise ValueError("must be a two-letter ISO 3166 country code")
        return value

    @model_validator(mode="after")
    def _paper_of_country(self) -> "Supporter":
        """The letters are printed on the paper chosen, else on the country's usual paper."""
        if self.paper is None:
            self.paper = usual_paper(self.country)
        return self

    def message_paragraphs(self) -> list[str]:
        """Paragraphs as the supporter typed them, split on blank lines; single breaks kept."""
        if not self.message:
            return []
        return [p.strip() for p in re.split(r"\n\s*\n", self.message) if p.strip()]
