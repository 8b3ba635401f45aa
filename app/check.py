"""`letter-campaign check`: proofs the campaign content before supporters see it.

Every official is rendered in every language under StrictUndefined, every demand must be carried
by some letter (app.campaign checks that on load), and the recipient's address must fit the
envelope window. One proof pack per language is written for a person to read.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import TemplateError, TemplateSyntaxError
from weasyprint import HTML

from app.campaign import Campaign
from app.pdf import LetterRenderer
from app.supporter import Supporter
from app.variants import first

PROOF_SUPPORTER = {
    "name": "Әсел Нұрғалиқызы Жүсіпова-Ğabdulla",
    "street": "Long Street Name With Several Words 125, apartment 14",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
    "signature": {"kind": "typed"},
    "message": "A personal message from the proof pack.\n\nIt has two paragraphs.",
}
TOLERANCE_PX = 0.5


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _window_overflow(document, recipient_ids: list[str]) -> list[tuple[str, str]]:
    """(recipient id, how far) for every window whose lines run past its box."""
    overflowing = []
    letters = iter(recipient_ids)
    for page in document.pages:
        for box in page._page_box.descendants():
            classes = (box.element.get("class", "") if box.element is not None else "").split()
            if box.element_tag != "div" or "window" not in classes or box.element is None:
                continue
            if not hasattr(box, "content_box_x"):
                continue
            recipient_id = next(letters, "?")
            right = box.content_box_x() + box.width
            bottom = box.content_box_y() + box.height
            for child in box.descendants():
                if type(child).__name__ != "LineBox":
                    continue
                if child.position_y + child.height > bottom + TOLERANCE_PX:
                    overflowing.append((recipient_id, "address runs below the window field"))
                    break
                if any(
                    text.position_x + text.width > right + TOLERANCE_PX
                    for text in child.descendants()
                    if type(text).__name__ == "TextBox"
                ):
                    overflowing.append((recipient_id, "an address line is wider than the window"))
                    break
    return overflowing


def _variants_used(
    renderer: LetterRenderer, supporter: Supporter, today: date, template: Path
) -> list[Problem]:
    """Every variant of every paragraph renders (StrictUndefined) and changes the letter: a
    template that ignores a variant campaign.yaml declares would send identical letters."""
    campaign = renderer.campaign
    base = first(campaign)
    plain = [str(letter.html) for letter in renderer.letters(supporter, campaign.recipients, today)]
    problems = []
    for name, count in campaign.case.variants.items():
        for number in range(2, count + 1):
            choice = {**base, name: number}
            letters = renderer.letters(supporter, campaign.recipients, today, choice)
            if [str(letter.html) for letter in letters] == plain:
                problems.append(
                    Problem(str(template), f"variant {name} {number} is the same as variant 1")
                )
    return problems


def check_campaign(renderer: LetterRenderer, proofs_dir: Path | None, today: date) -> list[Problem]:
    """All problems found; writes proof-<lang>.pdf into proofs_dir when given."""
    campaign: Campaign = renderer.campaign
    recipients_file = campaign.directory / "recipients.yaml"
    problems: list[Problem] = []
    for lang in campaign.languages:
        template = campaign.templates_dir / lang / "letter.html.j2"
        supporter = Supporter.model_validate({**PROOF_SUPPORTER, "language": lang})
        try:
            letters = renderer.letters(supporter, campaign.recipients, today)
            problems += _variants_used(renderer, supporter, today, template)
        except TemplateSyntaxError as exc:
            problems.append(Problem(f"{exc.filename or template}:{exc.lineno}", exc.message or ""))
            continue
        except TemplateError as exc:
            problems.append(Problem(str(template), str(exc)))
            continue
        html = HTML(
            string=renderer.pack_html(letters, lang),
            base_url=renderer.templates_dir.as_uri() + "/",
            url_fetcher=renderer.fetcher,
        )
        document = html.render(stylesheets=[renderer.stylesheet], font_config=renderer.font_config)
        for recipient_id, what in _window_overflow(document, [r.id for r in campaign.recipients]):
            problems.append(
                Problem(
                    f"{recipients_file}: recipient {recipient_id!r}, "
                    f"field address_as.{lang}.address_lines",
                    what,
                )
            )
        if proofs_dir is not None:
            proofs_dir.mkdir(parents=True, exist_ok=True)
            document.write_pdf(proofs_dir / f"proof-{lang}.pdf")
    return problems
