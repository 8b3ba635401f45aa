"""The renderer: a supporter's pack of appeal letters as one printable PDF.

It reaches neither the database nor HTTP: the web (app/routes/) gives it a validated supporter,
the officials, the date and the letters' variants, and gets back the PDF.

    renderer = LetterRenderer(campaign, fonts_dir)
    letters = renderer.letters(supporter, recipients, today)   # HTML, for the preview too
    pack = renderer.make_pack(letters, "ru", budget=15)        # Pack: pdf, how, seconds

The web process makes packs through RenderPool (render processes of their own) or
RenderInProcess (its own thread, RENDER_PROCESSES=0): both `await make_pack(...)`, and both
wait in a first-come, first-served line that refuses a pack (Busy) only when its wait would be
too long. The speed-ups (app/render/speedups/) lean on one WeasyPrint release and switch
themselves off on any other; `LetterRenderer.speedups` says which are on.
"""

from app.render.budget import RenderBudgetExceeded
from app.render.fetcher import RefusedURL
from app.render.pack_queue import Busy, Restarting
from app.render.pdf import Letter, LetterRenderer, Pack, collect_for_packs
from app.render.pool import RenderError, RenderInProcess, RenderPool

__all__ = [
    "Busy",
    "Letter",
    "LetterRenderer",
    "Pack",
    "RefusedURL",
    "RenderBudgetExceeded",
    "RenderError",
    "RenderInProcess",
    "RenderPool",
    "Restarting",
    "collect_for_packs",
]
