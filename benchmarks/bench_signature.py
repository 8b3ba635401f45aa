"""What a drawn signature costs a pack: as the form sent it before 2026-12-01, and as it does now.

The signature pad is 576 x 192 CSS pixels at most; its canvas has one or two pixels per CSS pixel
(devicePixelRatio, capped at 2), and a signature drawn across most of it is trimmed to its strokes.
Before, the form sent that as a PNG; now it sends it as a JPEG on white of at most 880 x 200 pixels
(what the letter prints). Each input is checked by today's schema (app.supporter.Drawn, in the
web process: it now scales a PNG larger than that, which the old one let through) and rendered
as a six-letter pack (LetterRenderer, in a render process) as the old schema let it through.
Interleaved rounds, a typed signature as the reference. Prints medians; run it with
`python -m benchmarks.bench_signature`.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.settings import Settings
from app.supporter import Drawn, Typed
from benchmarks.bench_pdf import Ways, machine, measure, signature_image, supporter

INPUTS = {
    "typed signature (reference)": None,
    "before: PNG 450 x 140 (1 pixel per CSS pixel)": (450, 140, "PNG"),
    "before: PNG 900 x 280 (2 pixels per CSS pixel)": (900, 280, "PNG"),
    "now: JPEG 450 x 140 (1 pixel per CSS pixel)": (450, 140, "JPEG"),
    "now: JPEG 643 x 200 (2 pixels per CSS pixel, scaled)": (643, 200, "JPEG"),
}


def checked_ms(image: str, rounds: int = 20) -> float:
    """The schema's check of the image, as the web process makes it for every request."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        Drawn(kind="drawn", image=image)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as work:
        ways = Ways(Settings(), Path(work))
        base = supporter(0)
        people, checks = {}, {}
        for name, spec in INPUTS.items():
            if spec is None:
                signature = Typed(kind="typed")
                checks[name] = 0.0
            else:
                image = signature_image(*spec)
                # Unchecked, as the old schema passed it; the check is timed on its own.
                signature = Drawn.model_construct(kind="drawn", image=image)
                checks[name] = checked_ms(image)
            people[name] = base.model_copy(update={"signature": signature})
        # measure() hands every way the same supporter: each way here renders its own.
        functions = {name: (lambda _, who=who: ways.service(who)) for name, who in people.items()}
        times, _cpu = measure(functions, base, args.rounds, args.warmup)
    reference = statistics.median(times["typed signature (reference)"])
    print(f"\nsix-letter pack, no message, {args.rounds} rounds, medians")
    print(f"  {'signature':<54} {'check ms now':>13} {'pack ms':>8} {'pack / typed':>13}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<54} {checks[name]:>13.1f} {median:>8.1f} {median / reference:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
