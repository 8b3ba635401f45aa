"""Does the fast path keep its speed on US Letter? The same pack on A4 and on Letter.

One renderer, warmed up for both papers as a served process is (WARM_UP), renders the same
supporter's pack (a letter to every official, in Russian, drawn signature, Kazakh name) on A4,
on Letter, and on Letter with the label page, interleaved in one run, without and with a
1,500-character message. Prints medians, spread (10th to 90th percentile), CPU, and the ratio of
each to A4; and whether each pack was composed from parts (the fast path) or had to be rendered
in full. Figures are printed, never asserted: `python -m benchmarks.bench_paper`.
"""

import argparse
import base64
import gc
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date

from PIL import Image, ImageDraw

from app.campaign import load_campaign
from app.render import LetterRenderer
from app.settings import Settings
from app.supporter import Supporter
from benchmarks.run_facts import machine, percentile

KAZAKH_NAME = "Әсел Нұрғалиқызы Жүсіпова"
TODAY = date(2026, 11, 5)
SENTENCE = (
    "Я внимательно слежу за этим делом с 2017 года и прошу Вас действовать в пределах Ваших "
    "полномочий, чтобы Алмат Жумагулов и Кенжебек Абишев получили справедливое разбирательство. "
)
WAYS = {"a4": ("a4", False), "letter": ("letter", False), "letter + labels": ("letter", True)}


def signature_image(width: int = 300, height: int = 100) -> str:
    """A drawn signature as the form sends it: a stroke, a JPEG on white."""
    points = [(0.03, 0.8), (0.27, 0.2), (0.5, 0.85), (0.73, 0.15), (0.97, 0.7)]
    image = Image.new("RGB", (width, height), (255, 255, 255))
    stroke = [(round(width * x), round(height * y)) for x, y in points]
    ImageDraw.Draw(image).line(stroke, fill=(0, 0, 80), width=5)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def supporter(message_length: int, paper: str, labels: bool) -> Supporter:
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
            "paper": paper,
            "labels": labels,
        }
    )


def measure(
    ways: dict[str, Callable[[], bytes]], rounds: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and CPU milliseconds per pack, each way, the ways taking turns to go first."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for round_number in range(warmup + rounds):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            ways[name]()
            elapsed, used = time.perf_counter() - start, time.process_time() - start_cpu
            if round_number >= warmup:
                times[name].append(elapsed * 1000)
                cpu[name].append(used * 1000)
    return times, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.1f} (other work slows every paper alike)")
    settings = Settings()
    renderer = LetterRenderer(load_campaign(settings.campaign_dir), settings.fonts_dir)
    started = time.perf_counter()
    sets = renderer.warm_up()
    print(f"warm-up: {sets} sets of fixed parts in {time.perf_counter() - started:.1f} s")
    recipients = list(renderer.campaign.recipients)
    for length in (0, 1500):
        who = {name: supporter(length, *how) for name, how in WAYS.items()}
        ways = {
            name: (
                lambda w=w: (
                    renderer.make_pack(renderer.letters(w, recipients, TODAY), w.language).pdf
                )
            )
            for name, w in who.items()
        }
        print(f"\nmessage of {length} characters:")
        for name, w in who.items():
            letters = renderer.letters(w, recipients, TODAY)
            composed = renderer.make_pack(letters, w.language).how == "composed"
            print(f"  {name}: {'composed from parts' if composed else 'RENDERED IN FULL'}")
        times, cpu = measure(ways, args.rounds, args.warmup)
        medians = {name: statistics.median(values) for name, values in times.items()}
        cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
        print(f"  {len(recipients)}-letter pack, {args.rounds} rounds")
        print(f"  {'paper':<18} {'median ms':>10} {'p10-p90 ms':>14} {'/ A4':>7} {'CPU ms':>8}"
              f" {'CPU / A4':>9}")  # fmt: skip
        for name, values in times.items():
            spread = f"{percentile(values, 0.1):.1f}-{percentile(values, 0.9):.1f}"
            print(
                f"  {name:<18} {medians[name]:>10.1f} {spread:>14}"
                f" {medians[name] / medians['a4']:>6.2f}x {cpu_medians[name]:>8.1f}"
                f" {cpu_medians[name] / cpu_medians['a4']:>8.2f}x"
            )
        print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
