"""Loads and validates the campaign content: recipients.yaml, campaign.yaml, letter_templates/."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

Language = Literal["en", "ru", "kk"]
LANGUAGES: tuple[Language, ...] = ("en", "ru", "kk")
LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Translated(Strict):
    """A text in each of the campaign's languages (campaign.yaml `languages`; all three unless
    it says otherwise). Asked for a language the campaign lacks, it answers in English, else in
    the first language it has, so a page in any UI language still shows the case."""

    en: Text | None = None
    ru: Text | None = None
    kk: Text | None = None

    def __getitem__(self, lang: str) -> str:
        text = getattr(self, lang, None) or self.en
        return text or next(getattr(self, code) for code in LANGUAGES if getattr(self, code))

    def missing(self, languages: "tuple[str, ...] | list[str]") -> list[str]:
        return [lang for lang in languages if not getattr(self, lang)]

    @model_validator(mode="after")
    def _some_text(self) -> "Translated":
        if not any(getattr(self, code) for code in LANGUAGES):
            raise ValueError("give the text in at least one language (en, ru, kk)")
        return self


class AddressAs(Strict):
    title: Text
    name: Text
    salutation: Text
    # The office as the letter's opening sentence names it, where the title's case does not fit
    # there (Russian: "как к Генеральному прокурору ..."); letters without it leave it out.
    in_capacity: Text | None = None
    address_lines: list[Text] = Field(min_length=2, max_length=8)


class Recipient(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    title: Text
    name: Text
    street: Text
    postcode: Text
    city: Text
    country: Text
    phone: Text | None = None
    verified: date
    demands: list[int] = Field(min_length=1)
    address_as: dict[Language, AddressAs]

    @model_validator(mode="after")
    def _every_language(self, info: ValidationInfo) -> "Recipient":
        languages = (info.context or {}).get("languages", LANGUAGES)
        missing = [lang for lang in languages if lang not in self.address_as]
        if missing:
            raise ValueError(f"address_as lacks {', '.join(missing)}")
        return self


class Demand(Strict):
    number: int
    text: Translated


class Source(Strict):
    """Where the case's facts come from and the day they describe: the letters state the case as
    this source reported it then, never as today's state."""

    title: Text
    publisher: Text
    url: Text | None = None  # the report's address, else the publisher's page for it
    published: date
    facts_as_of: date

    @field_validator("url")
    @classmethod
    def _web_address(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            spaced = any(char.isspace() for char in url)
            if parts.scheme not in ("http", "https") or not parts.hostname or spaced:
                raise ValueError("give the address as http:// or https:// and a host")
        return url


TRANSLATED_FIELDS = ("title", "prisoners", "summary", "letter_title", "subject")
ADVICE_FIELDS = ("language_hint", "postage")  # optional; when given, in every language too


class CaseTexts(Strict):
    source: Source
    languages: list[Language] = Field(default=list(LANGUAGES), min_length=1)
    default_language: Language | None = None
    # Variant paragraphs of the letter templates: name -> how many. Each pack picks one of each
    # at random; the template gets `variant.<name>`, a number from 1.
    variants: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")],
        Annotated[int, Field(ge=1, le=20)],
    ] = Field(default_factory=dict)
    title: Translated
    prisoners: Translated
    summary: Translated
    letter_title: Translated
    subject: Translated
    demands: list[Demand] = Field(min_length=1)
    # Advice on the supporter pages that depends on the case, in the page's language where given,
    # else in English: under the choice of letter language, and how to post the letters.
    language_hint: Translated | None = None
    postage: Translated | None = None
    # Countries where signing is a risk: ISO code -> the notice a supporter who writes from there
    # reads before sending, in every language. Their street is optional; the letter then prints
    # name, city and country only.
    risk_countries: dict[str, Translated] = Field(default_factory=dict)

    @field_validator("risk_countries")
    @classmethod
    def _country_codes(cls, notices: dict[str, Translated]) -> dict[str, Translated]:
        from app.supporter import COUNTRIES  # the countries a supporter can choose; it imports us

        for code in notices:
            if code not in COUNTRIES:
                raise ValueError(f"{code!r} is not a two-letter ISO 3166 country code, like KZ")
        return notices

    @model_validator(mode="after")
    def _every_language(self) -> "CaseTexts":
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages: a language is listed twice")
        if self.default_language and self.default_language not in self.languages:
            raise ValueError("default_language: not among languages")
        return self

    def untranslated(self) -> list[str]:
        """Fields (as campaign.yaml paths) lacking one of the campaign's languages."""
        texts = [(name, getattr(self, name)) for name in TRANSLATED_FIELDS]
        texts += [(name, getattr(self, name)) for name in ADVICE_FIELDS if getattr(self, name)]
        texts += [(f"demands.{i}.text", d.text) for i, d in enumerate(self.demands)]
        texts += [(f"risk_countries.{code}", text) for code, text in self.risk_countries.items()]
        return [f"{name}.{lang}" for name, text in texts for lang in text.missing(self.languages)]


class RecipientsFile(Strict):
    recipients: list[Recipient] = Field(min_length=1)


class UnknownRecipient(ValueError):
    """A request named an official who is not in this campaign."""

    def __init__(self, recipient_id: str) -> None:
        super().__init__(f"unknown recipient {recipient_id!r}")
        self.recipient_id = recipient_id


class CampaignError(Exception):
    """The campaign content is broken; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Campaign:
    directory: Path
    case: CaseTexts
    recipients: tuple[Recipient, ...]

    @property
    def templates_dir(self) -> Path:
        return self.directory / "letter_templates"

    @property
    def languages(self) -> tuple[Language, ...]:
        """The letter languages this campaign has texts and templates for."""
        return tuple(self.case.languages)

    @property
    def default_language(self) -> Language:
        """The letter language a fresh form offers: campaign.yaml's choice, else its first."""
        return self.case.default_language or self.case.languages[0]

    def text_language(self, lang: str) -> Language:
        """The campaign's language for texts shown in UI language `lang`."""
        if lang in self.languages:
            return lang  # type: ignore[return-value]
        return "en" if "en" in self.languages else self.default_language

    def recipient(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.recipients if r.id == recipient_id), None)

    def choose(self, ids: list[str]) -> list[Recipient]:
        """The officials named, in campaign order; none named means all of them."""
        if not ids:
            return list(self.recipients)
        wanted = set(ids)
        for recipient_id in ids:
            if self.recipient(recipient_id) is None:
                raise UnknownRecipient(recipient_id)
        return [r for r in self.recipients if r.id in wanted]

    def demands_for(self, recipient: Recipient, lang: str) -> list[str]:
        by_number = {d.number: d for d in self.case.demands}
        return [by_number[n].text[lang] for n in recipient.demands]


# libyaml's loader, where PyYAML was built with it (its wheels are): the same documents, read
# about ten times faster, and every app and check loads the campaign afresh.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506
    except FileNotFoundError:
        raise CampaignError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise CampaignError(f"{path}: not valid YAML: {exc}") from None


def _describe(path: Path, data: object, exc: ValidationError) -> str:
    """One line per problem: file, entry (by its id where it has one) and field."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc)
        if len(loc) >= 2 and loc[0] == "recipients" and isinstance(loc[1], int):
            try:
                entry_id = data["recipients"][loc[1]].get("id")  # type: ignore[index]
            except (TypeError, IndexError, KeyError, AttributeError):
                entry_id = None
            entry = f"recipient {entry_id!r}" if entry_id else f"recipient #{loc[1] + 1}"
            field = ".".join(str(part) for part in loc[2:]) or "(entry)"
            lines.append(f"{path}: {entry}, field {field}: {error['msg']}")
        else:
            lines.append(f"{path}: field {where or '(file)'}: {error['msg']}")
    return "\n".join(lines)


def _validate(model: type[BaseModel], path: Path, context: dict | None = None) -> BaseModel:
    data = _read_yaml(path)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise CampaignError(_describe(path, data, exc)) from None


def load_campaign(directory: Path) -> Campaign:
    """Read the campaign folder, refusing anything incomplete before a supporter sees it."""
    directory = directory.resolve()
    recipients_path = directory / "recipients.yaml"
    case_path = directory / "campaign.yaml"
    case: CaseTexts = _validate(CaseTexts, case_path)  # type: ignore[assignment]
    untranslated = case.untranslated()
    if untranslated:
        raise CampaignError(f"{case_path}: field {untranslated[0]}: Field required")
    context = {"languages": tuple(case.languages)}
    recipients = _validate(RecipientsFile, recipients_path, context).recipients  # type: ignore[attr-defined]

    ids = [r.id for r in recipients]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CampaignError(f"{recipients_path}: recipient {duplicates[0]!r}, field id: duplicate")
    numbers = {d.number for d in case.demands}
    for recipient in recipients:
        unknown = [n for n in recipient.demands if n not in numbers]
        if unknown:
            raise CampaignError(
                f"{recipients_path}: recipient {recipient.id!r}, field demands: "
                f"no demand numbered {unknown[0]} in {case_path.name}"
            )
    carried = {n for r in recipients for n in r.demands}
    uncarried = sorted(numbers - carried)
    if uncarried:
        raise CampaignError(
            f"{case_path}: demand {uncarried[0]}, field number: no recipient's letter carries it"
        )
    for lang in case.languages:
        template = directory / "letter_templates" / lang / "letter.html.j2"
        if not template.is_file():
            raise CampaignError(f"{template}: letter template for {lang!r} not found")
    return Campaign(directory=directory, case=case, recipients=tuple(recipients))
