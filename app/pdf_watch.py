"""What the fast path's cached parts were built from, so a change on disk is noticed."""

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def fingerprint(paths: Sequence[Path]) -> tuple:
    """What the cached parts were built from: every file under these folders, by size and time."""
    entries = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            stat = path.stat()
            entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


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
