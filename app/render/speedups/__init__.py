"""Speed-ups that lean on WeasyPrint 70's private classes and functions.

A pack is composed from parts laid out once (parts.py, split.py, flow.py), at a fraction of a
full render's CPU (benchmarks/README.md); documents of one template version share their
computed styles (styles.py); pages with no margin boxes skip making them (margins.py); and a
leak of font names is freed (leaks.py). Each checks that it runs on the WeasyPrint release it
was written for, and anywhere else leaves WeasyPrint as it is: packs are then rendered in full,
the same pages at several times the CPU. So pyproject.toml pins WeasyPrint to that release, the
service logs at start which speed-ups are on and counts at /metrics the packs composed and
those rendered in full, and tests/test_speedups.py fails when a WeasyPrint that pyproject.toml
allows turns any of them off.
"""

import weasyprint

CHECKED_WITH = "70."  # the WeasyPrint release whose internals the speed-ups were checked on
COMPOSITION = "composition"
SHARED_STYLES = "shared_styles"
MARGIN_BOXES = "margin_boxes"
FONT_NAMES = "font_names"
NAMES = (COMPOSITION, SHARED_STYLES, MARGIN_BOXES, FONT_NAMES)


def on_checked_release() -> bool:
    """Whether the installed WeasyPrint is the release the speed-ups were checked on."""
    return weasyprint.__version__.startswith(CHECKED_WITH)
