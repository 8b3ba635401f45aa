"""How fast is a personalised six-letter pack? The service against three other ways to make it.

Renders the same pack (drawn signature, Russian letter, Kazakh name) four ways, interleaved in
one run after a warm-up, without and with a 1,500-character message:

1. the service's renderer (LetterRenderer.make_pack: parts composed where exact, else full);
2. plain WeasyPrint with nothing reused (HTML string to write_pdf, stylesheet parsed afresh);
3. a ReportLab script written by hand for the same letter (reportlab_letter.py);
4. a Typst template of the same letter (letter.typ), the whole pack compiled afresh each time.

Prints medians, spread (10th to 90th percentile) and the ratios of (1) to each. Figures are
printed, never asserted: run it with `make bench` (python -m benchmarks.bench_pdf).
"""

import argparse
import base64
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import typst
from PIL import Image, ImageDraw
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from app.campaign import load_campaign
from app.render import LetterRenderer
from app.render.fetcher import CampaignFetcher
from app.settings import Settings
from app.supporter import Supporter
from benchmarks import reportlab_letter
from benchmarks.letter_text import LetterText, letter_texts
from benchmarks.run_facts import machine, percentile

HERE = Path(__file__).resolve().parent
KAZAKH_NAME = "Әсел Нұрғалиқызы Жүсіпова"
TODAY = date(2026, 11, 5)
SENTENCE = (
    "Я внимательно слежу за этим делом с 2017 года и прошу Вас действовать в пределах Ваших "
    "полномочий, чтобы Алмат Жумагулов и Кенжебек Абишев получили справедливое разбирательство. "
)


def signature_image(width: int = 300, height: int = 100, kind: str = "JPEG") -> str:
    """A drawn signature: a stroke as the form sends it (a JPEG on white) or as it sent it
    before 2026-12-01 (a PNG, transparent), thicker on a pad with two pixels per CSS pixel."""
    points = [(0.03, 0.8), (0.27, 0.2), (0.5, 0.85), (0.73, 0.15), (0.97, 0.7)]
    background = (255, 255, 255) if kind == "JPEG" else (255, 255, 255, 0)
    image = Image.new("RGB" if kind == "JPEG" else "RGBA", (width, height), background)
    stroke = [(round(width * x), round(height * y)) for x, y in points]
    ImageDraw.Draw(image).line(stroke, fill=(0, 0, 80), width=5 * max(1, round(height / 140)))
    buffer = io.BytesIO()
    image.save(buffer, kind, **({"quality": 92} if kind == "JPEG" else {}))
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def supporter(message_length: int) -> Supporter:
    message = (SENTENCE * (message_length // len(SENTENCE) + 1))[:message_length].rstrip()
    return Supporter.model_validate(
        {
            "name": KAZAKH_NAME,
            "street": "Hauptstraße 5",
            "postcode": "10115",
            "city": "Berlin",
            "country": "DE",
            "language": "ru",
            "message": message or None,
            "signature": {"kind": "drawn", "image": signature_image()},
        }
    )


class Ways:
    """The four ways, each a function from a supporter to the pack's PDF bytes."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.campaign = load_campaign(settings.campaign_dir)
        self.renderer = LetterRenderer(self.campaign, settings.fonts_dir)
        self.recipients = list(self.campaign.recipients)
        self.title = self.campaign.case.letter_title["ru"]
        reportlab_letter.register_fonts(settings.fonts_dir / "handwriting.ttf")
        self.work = work
        (work / "letter.typ").write_bytes((HERE / "letter.typ").read_bytes())
        self.texts: dict[int, list[LetterText]] = {}

    def prepare(self, who: Supporter) -> None:
        """What a hand-written script holds as constants: the letters' words."""
        letters = self.renderer.letters(who, self.recipients, TODAY)
        self.texts[id(who)] = letter_texts(letters, who.language)

    def service(self, who: Supporter) -> bytes:
        return self.renderer.make_pack(
            self.renderer.letters(who, self.recipients, TODAY), who.language
        ).pdf

    def plain(self, who: Supporter) -> bytes:
        letters = self.renderer.letters(who, self.recipients, TODAY)
        fetcher = CampaignFetcher(self.renderer.templates_dir, self.settings.fonts_dir)
        font_config = FontConfiguration()
        css = CSS(
            filename=str(self.renderer.templates_dir / "letter.css"),
            url_fetcher=fetcher,
            font_config=font_config,
        )
        html = HTML(
            string=self.renderer.pack_html(letters, who.language),
            base_url=self.renderer.templates_dir.as_uri() + "/",
            url_fetcher=fetcher,
        )
        return html.write_pdf(stylesheets=[css], font_config=font_config)

    def reportlab(self, who: Supporter) -> bytes:
        return reportlab_letter.render_pack(self.texts[id(who)], self.title)

    def typst(self, who: Supporter) -> bytes:
        texts = self.texts[id(who)]
        (self.work / "signature.jpg").write_bytes(texts[0].signature_image)
        data = {
            "lang": who.language,
            "title": self.title,
            "signature": "signature.jpg",
            "letters": [
                {
                    "window": t.window,
                    "info": t.info,
                    "subject": t.subject,
                    "body": t.body,
                    "demands": t.demands,
                    "message": t.message,
                    "closing": t.closing,
                    "signature": t.signature,
                    "name": t.name,
                }
                for t in texts
            ],
        }
        return typst.compile(
            str(self.work / "letter.typ"),
            root=str(self.work),
            font_paths=["/usr/share/fonts/truetype/dejavu", str(self.settings.fonts_dir)],
            sys_inputs={"data": json.dumps(data, ensure_ascii=False)},
        )


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def check(name: str, pdf: bytes) -> str:
    """The pack each way makes: pages and whether the Kazakh name reads back exactly."""
    text = pdf_text(pdf)
    pages = text.count("\f")
    return f"{name}: {pages} pages, Kazakh name {'exact' if KAZAKH_NAME in text else 'WRONG'}"


def measure(ways: dict[str, Callable[[Supporter], bytes]], who: Supporter, rounds: int,
            warmup: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:  # fmt: skip
    """Wall-clock and CPU milliseconds per pack, each way. CPU counts every thread of this
    process, so a way that spreads its work over both cores shows it (Typst does). Garbage is
    collected before each pack, untimed: the plain WeasyPrint render leaves a lot of it, and a
    full collection it triggered would otherwise land on whichever way came next."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for round_number in range(warmup + rounds):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            gc.collect()  # no way pays for the garbage another way left
            start, start_cpu = time.perf_counter(), time.process_time()
            ways[name](who)
            elapsed, used = time.perf_counter() - start, time.process_time() - start_cpu
            if round_number >= warmup:
                times[name].append(elapsed * 1000)
                cpu[name].append(used * 1000)
    return times, cpu


def report(title: str, times: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"\n{title}")
    print(
        f"  {'way':<34} {'median ms':>10} {'p10-p90 ms':>16} {'service / way':>14}"
        f" {'CPU ms':>8} {'service CPU / way CPU':>22}"
    )
    for name, values in times.items():
        spread = f"{percentile(values, 0.1):.1f}-{percentile(values, 0.9):.1f}"
        ratio = medians["service"] / medians[name]
        cpu_ratio = cpu_medians["service"] / cpu_medians[name]
        print(
            f"  {LABELS[name]:<34} {medians[name]:>10.1f} {spread:>16} {ratio:>13.2f}x"
            f" {cpu_medians[name]:>8.1f} {cpu_ratio:>21.2f}x"
        )


LABELS = {
    "service": "(1) service renderer",
    "plain": "(2) plain WeasyPrint, nothing reused",
    "reportlab": "(3) ReportLab script",
    "typst": "(4) Typst template",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.1f} (other work slows all four ways)")
    with tempfile.TemporaryDirectory() as work:
        ways = Ways(Settings(), Path(work))
        functions = {name: getattr(ways, name) for name in LABELS}
        for length in (0, 1500):
            who = supporter(length)
            ways.prepare(who)
            print(f"\nmessage of {length} characters:")
            for name, function in functions.items():
                print("  " + check(LABELS[name], function(who)))
            times, cpu = measure(functions, who, args.rounds, args.warmup)
            title = f"six-letter pack, message of {length} characters, {args.rounds} rounds"
            report(title, times, cpu)
            print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
