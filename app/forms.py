"""The supporter form without JavaScript: its values, their round trip through hidden fields, and
the schema's errors put next to the fields they belong to, in words a supporter understands.

Nothing is kept between requests: each step posts every value again.
"""

import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from itsdangerous import Signer
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.campaign import Campaign, Recipient, UnknownRecipient
from app.i18n import N_
from app.supporter import PAPERS, Drawn, Supporter, usual_paper

SIGNATURE_KINDS = ("drawn", "typed", "none")
# A pack's token: 32 random characters, and since the form's tokens are signed, a signature.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}(\.[A-Za-z0-9_-]{20,40})?$")
FIELDS = ("name", "street", "postcode", "city", "country", "language", "recipients", "message")

# What each field's problem means to a supporter. Keys are (field, pydantic error type); the
# field's own entry (type None) covers every other problem with it.
MESSAGES: dict[tuple[str, str | None], str] = {
    ("name", None): N_("Enter your name."),
    ("name", "string_too_long"): N_("Your name can have at most %(max)s characters."),
    ("street", None): N_("Enter your street and house number."),
    ("street", "string_too_long"): N_("This can have at most %(max)s characters."),
    ("postcode", None): N_("Write the postcode on one line, without special characters."),
    ("postcode", "string_too_long"): N_("A postcode can have at most %(max)s characters."),
    ("city", None): N_("Enter your town or city."),
    ("city", "string_too_long"): N_("This can have at most %(max)s characters."),
    ("country", None): N_("Choose your country from the list."),
    ("language", None): N_("Choose the language of your letters."),
    ("recipients", None): N_("Choose at least one official from the list."),
    ("recipients", "paused"): N_(
        "Letters to one of the officials you chose are paused for now; choose among the others."
    ),
    ("recipients", "unverified"): N_(
        "Letters to one of the offices you chose wait until the campaign checks who holds it; "
        "choose among the others."
    ),
    ("message", None): N_("Your message cannot contain control characters."),
    ("message", "string_too_long"): N_(
        "Your message has %(length)s characters; it can have at most %(max)s."
    ),
    ("paper", None): N_("Choose the paper your letters are printed on."),
    ("signature", None): N_("Choose how to sign your letters."),
    ("signature", "drawn"): N_("Draw your signature in the box, or choose another way to sign."),
}
LINE_PROBLEM = N_("Write this on one line, without special characters.")
# Problems any text field can have (app/supporter.py: printable_text), whatever the field.
TEXT_PROBLEMS = {
    "combining_marks": N_("This has more than %(max)s accents stacked on one letter."),
    "unprintable_character": N_(
        "This has characters our letters cannot print, such as some emoji or scripts our fonts "
        "lack. Please write it without them."
    ),
    "invalid_unicode": N_(
        "This has characters our letters cannot print, such as some emoji or scripts our fonts "
        "lack. Please write it without them."
    ),
    "too_many_lines": N_("Your message has %(lines)s lines; it can have at most %(max)s."),
}
SINGLE_LINES = ("name", "street", "postcode", "city")


@dataclass(frozen=True)
class FieldError:
    message: str
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class SupporterForm:
    """What the supporter typed, exactly as typed, so a page can show it again."""

    name: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""
    language: str = ""
    recipients: list[str] = field(default_factory=list)
    message: str = ""
    signature_kind: str = "typed"
    signature_image: str = ""
    variants: str = ""
    # The paper the supporter chose; empty: the paper usual in their country, whichever it is.
    paper: str = ""
    labels: bool = False

    @classmethod
    def blank(cls, campaign: Campaign, paused: Collection[str] | None = None) -> "SupporterForm":
        """A fresh form: every official not paused (nor held) ticked, letters in the campaign's
        default language, signed in typed script."""
        paused = paused or ()
        return cls(
            language=campaign.default_language,
            recipients=[r.id for r in campaign.recipients if r.id not in paused],
        )

    @classmethod
    def from_form(cls, form: FormData) -> "SupporterForm":
        def text(name: str) -> str:
            value = form.get(name, "")
            return value if isinstance(value, str) else ""

        return cls(
            name=text("name"),
            street=text("street"),
            postcode=text("postcode"),
            city=text("city"),
            country=text("country"),
            language=text("language"),
            recipients=[v for v in form.getlist("recipients") if isinstance(v, str)],
            message=text("message").replace("\r\n", "\n").replace("\r", "\n"),
            signature_kind=text("signature_kind"),
            signature_image=text("signature_image") if text("signature_kind") == "drawn" else "",
            variants=text("variants"),
            # The form posts the paper it showed as the default (`paper_default`) beside the
            # supporter's choice: left as shown, the paper follows the country, also once the
            # country changes; the steps after it post the choice alone.
            paper="" if text("paper") == text("paper_default") else text("paper"),
            labels=bool(text("labels")),
        )

    def shown_paper(self) -> str:
        """The paper the letters are printed on: the one chosen, else the country's usual one."""
        return self.paper if self.paper in PAPERS else usual_paper(self.country)

    def schema_data(self) -> dict:
        """The supporter schema's input; the schema, not this form, decides what is valid."""
        signature: dict[str, str] = {"kind": self.signature_kind}
        if self.signature_kind == "drawn":
            signature["image"] = self.signature_image
        return {
            "name": self.name,
            "street": self.street,
            "postcode": self.postcode.strip() or None,
            "city": self.city,
            "country": self.country,
            "language": self.language,
            "recipients": self.recipients,
            "message": self.message if self.message.strip() else None,
            "signature": signature,
            "paper": self.paper or None,
            "labels": self.labels,
        }

    def hidden_fields(self) -> list[tuple[str, str]]:
        """The values as hidden inputs, for the next step to post them back."""
        fields = [(name, getattr(self, name)) for name in FIELDS if name != "recipients"]
        fields += [("recipients", recipient_id) for recipient_id in self.recipients]
        fields.append(("signature_kind", self.signature_kind))
        if self.signature_kind == "drawn":
            fields.append(("signature_image", self.signature_image))
        fields.append(("variants", self.variants))
        fields.append(("paper", self.paper))
        if self.labels:
            fields.append(("labels", "1"))
        return fields


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a form: the supporter and the officials, or errors by field."""

    supporter: Supporter | None
    recipients: list[Recipient]
    errors: dict[str, FieldError]


def _error_for(error: dict, form: SupporterForm) -> tuple[str, FieldError]:
    loc = error["loc"]
    name = str(loc[0]) if loc and str(loc[0]) in (*FIELDS, "paper") else "signature"
    kind = error["type"]
    if name == "signature":
        drawn = len(loc) > 1 and loc[1] == "drawn"
        return name, FieldError(MESSAGES[(name, "drawn" if drawn else None)])
    if kind in TEXT_PROBLEMS:
        ctx = error.get("ctx") or {}
        numbers = {k: v for k, v in ctx.items() if k in ("max", "lines") and isinstance(v, int)}
        return name, FieldError(TEXT_PROBLEMS[kind], numbers)
    if name in SINGLE_LINES and kind == "value_error":
        return name, FieldError(LINE_PROBLEM)
    values = {}
    limit = (error.get("ctx") or {}).get("max_length")
    if limit is not None:
        values["max"] = limit
    if name == "message" and kind == "string_too_long":
        values["length"] = len(form.message)
    return name, FieldError(MESSAGES.get((name, kind)) or MESSAGES[(name, None)], values)


def check(
    form: SupporterForm,
    campaign: Campaign,
    paused: Mapping[str, str] | None = None,
    held: Collection[str] = (),
) -> Checked:
    """Validate with the supporter schema, the campaign's languages and its officials neither
    paused nor held until checked. A drawn signature comes back as the letters print it, into
    `form` too."""
    errors: dict[str, FieldError] = {}
    supporter = None
    try:
        supporter = Supporter.for_campaign(form.schema_data(), campaign)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            name, problem = _error_for(error, form)
            errors.setdefault(name, problem)
    if supporter is not None and supporter.language not in campaign.languages:
        errors.setdefault("language", FieldError(MESSAGES[("language", None)]))
    recipients: list[Recipient] = []
    if not form.recipients:
        errors.setdefault("recipients", FieldError(MESSAGES[("recipients", None)]))
    else:
        try:
            recipients = campaign.choose(form.recipients)
        except UnknownRecipient:
            errors.setdefault("recipients", FieldError(MESSAGES[("recipients", None)]))
        if any(r.id in (paused or {}) for r in recipients):
            errors.setdefault("recipients", FieldError(MESSAGES[("recipients", "paused")]))
        if any(r.id in held for r in recipients):
            errors.setdefault("recipients", FieldError(MESSAGES[("recipients", "unverified")]))
    if errors:
        return Checked(None, [], errors)
    if supporter is not None and isinstance(supporter.signature, Drawn):
        # The next step posts back the image as the letters print it: checked and scaled once.
        form.signature_image = supporter.signature.image
    return Checked(supporter, recipients, {})


def valid_token(token: str) -> bool:
    return bool(TOKEN.match(token))


def _token_signer(secret: str) -> Signer:
    return Signer(secret, salt="letter-campaign.pack-token")


def new_form_token(secret: str) -> str:
    """The token a preview mints for the letters it shows, signed: the form can keep nothing
    between requests, so the token travels in it, and only tokens this service minted count
    letters (a client cannot choose its own, to count again and again under names it knows)."""
    return _token_signer(secret).sign(secrets.token_urlsafe(24)).decode()


def form_token_signed(secret: str, token: str) -> bool:
    return valid_token(token) and _token_signer(secret).validate(token)
