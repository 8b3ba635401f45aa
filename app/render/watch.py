"""What the fast path's cached parts were built from, so a change on disk is noticed."""

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def fingerprint(paths: Sequence[Path]) -> tuple:
    """What the cached parts were built from: every file under these folders, by size and time.

    Taken twice per pack, so it walks with os.scandir (os.walk), much cheaper than pathlib's rglob.
    """
    entries = []
    for root in paths:
        if root.is_file():
            files = [str(root)]
        else:
            files = [
                os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names
            ]
        for path in files:
            stat = os.stat(path)
            entries.append((path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def system_font_files(families: set[str]) -> list[Path]:
    """The font files fontconfig holds for these families, so a font update is noticed."""
    if not families or not shutil.which("fc-list"):
        return []
    found: set[Path] = set()
    for family in sorted(families):
        out = subprocess.run(
            ["fc-list", "--format", "%{file}\n", f":family={family}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        found.update(Path(line) for line in out.splitlines() if line)
    return sorted(found)
