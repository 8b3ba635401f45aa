"""`letter-campaign check`: proofs the campaign content before supporters see it.

Every official is rendered in every language under StrictUndefined, every demand must be carried
by some letter (app.campaign checks that on load), and the recipient's address must fit the
envelope window on either paper (A4, and US Letter), which must come out at its size. One proof
pack per language and paper, ending with the label page, is written for a person to read.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import TemplateError, TemplateSyntaxError

from app.campaign import Campaign
from app.render import LetterRenderer
from app.supporter import PAPERS, Supporter
from app.variants import first

PROOF_SUPPORTER = {
    "name": "Әсел Нұрғалиқызы Жүсіпова-Ğabdulla",
    "street": "Long Street Name With Several Words 125, apartment 14",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
    "signature": {"kind": "typed"},
    "message": "A personal message from the proof pack.\n\nIt has two paragraphs.",
    "labels": True,
}
TOLERANCE_PX = 0.5
# Each paper's size in CSS px, and how its problems and proof files are told apart.
PAPER_SIZES = {"a4": (793.7, 1122.5), "letter": (816.0, 1056.0)}
PAPER_NAMES = {"a4": "A4", "letter": "US Letter"}
PROOF_SUFFIXES = {"a4": "", "letter": "-letter"}


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
            top, bottom = box.content_box_y(), box.content_box_y() + box.height
            for child in box.descendants():
                if type(child).__name__ != "LineBox":
                    continue
                if child.position_y + child.height > bottom + TOLERANCE_PX:
                    overflowing.append((recipient_id, "address runs below the window field"))
                    break
                if child.position_y < top - TOLERANCE_PX:  # a field that centres its address
                    overflowing.append((recipient_id, "address runs above the window field"))
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


def _wrong_size(document, paper: str, templates_dir: Path) -> list[Problem]:
    """A pack not the size of its paper: the templates do not lay out that paper."""
    width, height = PAPER_SIZES[paper]
    sizes = {(round(page.width, 1), round(page.height, 1)) for page in document.pages}
    if all(abs(w - width) <= 1 and abs(h - height) <= 1 for w, h in sizes):
        return []
    found = ", ".join(f"{w * 0.75:.0f} x {h * 0.75:.0f} pt" for w, h in sorted(sizes))
    return [
        Problem(
            f"{templates_dir / 'pack.html.j2'} and letter.css",
            f"letters on {PAPER_NAMES[paper]} paper come out {found}, not "
            f"{width * 0.75:.0f} x {height * 0.75:.0f} pt (the root's class paper-{paper})",
        )
    ]


def check_campaign(renderer: LetterRenderer, proofs_dir: Path | None, today: date) -> list[Problem]:
    """All problems found; writes proof-<lang>.pdf (A4) and proof-<lang>-letter.pdf (US
    Letter) into proofs_dir when given."""
    campaign: Campaign = renderer.campaign
    recipients_file = campaign.directory / "recipients.yaml"
    problems: list[Problem] = []
    for lang in campaign.languages:
        template = campaign.templates_dir / lang / "letter.html.j2"
        for paper in PAPERS:
            supporter = Supporter.model_validate(
                {**PROOF_SUPPORTER, "language": lang, "paper": paper}
            )
            try:
                letters = renderer.letters(supporter, campaign.recipients, today)
                if paper == PAPERS[0]:
                    problems += _variants_used(renderer, supporter, today, template)
                html = renderer.pack_html(letters, lang)
            except TemplateSyntaxError as exc:
                where = f"{exc.filename or template}:{exc.lineno}"
                problems.append(Problem(where, exc.message or ""))
                break
            except TemplateError as exc:
                problems.append(Problem(str(template), str(exc)))
                break
            document = renderer.document(html)
            problems += _wrong_size(document, paper, campaign.templates_dir)
            on_paper = "" if paper == PAPERS[0] else f" (on {PAPER_NAMES[paper]} paper)"
            ids = [r.id for r in campaign.recipients]
            for recipient_id, what in _window_overflow(document, ids):
                problems.append(
                    Problem(
                        f"{recipients_file}: recipient {recipient_id!r}, "
                        f"field address_as.{lang}.address_lines",
                        what + on_paper,
                    )
                )
            if proofs_dir is not None:
                proofs_dir.mkdir(parents=True, exist_ok=True)
                document.write_pdf(proofs_dir / f"proof-{lang}{PROOF_SUFFIXES[paper]}.pdf")
    return problems
