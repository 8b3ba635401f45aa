"""What every benchmark prints about its run: the machine it ran on, and a percentile of its
timings (the nearest rank, no interpolation, so that a figure is one that was measured)."""

import os
import platform
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{len(os.sched_getaffinity(0))} cores (nproc), {cpu}"
