"""The same appeal letter written by hand for ReportLab: the yardstick of the benchmark.

It follows letter.css (A4, margins 12/20/12/25 mm, DejaVu Serif 9.8 pt, the DIN 5008 form B
window 20 mm from the left and 45 mm from the top, the sender's block beside it) the way an
engineer would with ReportLab's own flowables, fonts registered once per process.
"""

import io
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Frame,
    Image,
    KeepTogether,
    ListFlowable,
    ListItem,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)
from reportlab.platypus.doctemplate import BaseDocTemplate

from benchmarks.letter_text import LetterText

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SIZE = 9.8
SMALL = 9


def register_fonts(handwriting: Path) -> None:
    pdfmetrics.registerFont(TTFont("DejaVuSerif", str(DEJAVU / "DejaVuSerif.ttf")))
    pdfmetrics.registerFont(TTFont("DejaVuSerif-Bold", str(DEJAVU / "DejaVuSerif-Bold.ttf")))
    pdfmetrics.registerFont(TTFont("Handwriting", str(handwriting)))


STYLES = {
    "body": ParagraphStyle(
        "body", fontName="DejaVuSerif", fontSize=SIZE, leading=SIZE * 1.28, spaceAfter=2.5 * mm
    ),
    "small": ParagraphStyle("small", fontName="DejaVuSerif", fontSize=SMALL, leading=SMALL * 1.2),
    "info": ParagraphStyle("info", fontName="DejaVuSerif", fontSize=SMALL, leading=SMALL * 1.25),
    "subject": ParagraphStyle(
        "subject",
        fontName="DejaVuSerif-Bold",
        fontSize=SIZE,
        leading=SIZE * 1.28,
        spaceBefore=4 * mm,
        spaceAfter=3 * mm,
    ),
    "typed": ParagraphStyle("typed", fontName="Handwriting", fontSize=22, leading=22),
    "plain": ParagraphStyle("plain", fontName="DejaVuSerif", fontSize=SIZE, leading=SIZE * 1.28),
}


class Head(Flowable):
    """The window field with the official's address and the sender's block to its right."""

    def __init__(self, window: list[str], info: list[str]) -> None:
        super().__init__()
        self.window = [Paragraph(escape(line), STYLES["small"]) for line in window]
        self.info = [Paragraph(escape(line), STYLES["info"]) for line in info]

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, 78 * mm

    def draw(self) -> None:
        y = 78 * mm - 33 * mm - 8 * mm
        for paragraph in self.window:
            _, height = paragraph.wrap(75 * mm, 45 * mm)
            y -= height
            paragraph.drawOn(self.canv, 0, y)
        y = 78 * mm - 33 * mm - 5 * mm
        for number, paragraph in enumerate(self.info):
            if number == len(self.info) - 1:
                y -= 4 * mm
            _, height = paragraph.wrap(self.width - 100 * mm, 45 * mm)
            y -= height
            paragraph.drawOn(self.canv, 100 * mm, y)


def _story(text: LetterText) -> list[Flowable]:
    body = STYLES["body"]
    story: list[Flowable] = [Head(text.window, text.info)]
    story += [Paragraph(escape(line), STYLES["subject"]) for line in text.subject]
    story += [Paragraph(escape(line), body) for line in text.body]
    story.append(
        ListFlowable(
            [
                ListItem(Paragraph(escape(d), STYLES["plain"]), spaceAfter=1 * mm)
                for d in text.demands
            ],
            bulletFontName="DejaVuSerif",
            bulletFontSize=SIZE,
            leftIndent=7 * mm,
        )
    )
    if text.message:
        story.append(Spacer(1, 4 * mm))
        story += [Paragraph(escape(p).replace("\n", "<br/>"), body) for p in text.message]
    if text.signature == "drawn":
        signature: Flowable = Image(io.BytesIO(text.signature_image), width=48 * mm, height=16 * mm)
    elif text.signature == "typed":
        signature = Paragraph(escape(text.name), STYLES["typed"])
    else:
        signature = Spacer(70 * mm, 16 * mm)
    closing = [Spacer(1, 4 * mm)]
    closing += [Paragraph(escape(line), body) for line in text.closing]
    closing += [signature, Paragraph(escape(text.name), STYLES["plain"])]
    story.append(KeepTogether(closing))
    return story


def render_pack(texts: list[LetterText], title: str) -> bytes:
    """One PDF, each letter starting on a new page."""
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        title=title,
        lang=texts[0].lang if texts else "en",
        leftMargin=25 * mm,
        rightMargin=20 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, 0, 0, 0, 0)
    doc.addPageTemplates([PageTemplate("letter", [frame])])
    story: list[Flowable] = []
    for number, text in enumerate(texts):
        if number:
            story.append(PageBreak())
        story += _story(text)
    doc.build(story)
    return out.getvalue()
