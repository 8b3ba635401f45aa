"""Frees what WeasyPrint leaks on every document, so a render process's memory stays flat.

WeasyPrint 70 names each font it writes into a PDF from `pango_font_description_to_string()` and
never frees the string that Pango returns (it must be given back with `g_free`). That is one or two
strings per pack, so a server that runs for weeks does not stop growing (the heaptrack diff that
found it is in benchmarks/README.md).

Here WeasyPrint's PDF font module is handed a Pango whose `pango_font_description_to_string` gives
the string to Python's garbage collection, which frees it with `g_free` once WeasyPrint has copied
it. Only the WeasyPrint release whose source this was checked against is changed: a later one that
frees the string itself must not have it freed twice.
"""

import inspect
import threading

import cffi
import weasyprint.pdf.fonts as pdf_fonts
from weasyprint.text.ffi import ffi, pango

from app.render.speedups import on_checked_release

GLIB_NAMES = ("libglib-2.0.so.0", "glib-2.0", "libglib-2.0.0.dylib", "libglib-2.0-0.dll")
LEAKING_CALL = "ffi.string(\n            pango.pango_font_description_to_string(description))"

_install = threading.Lock()
_glib = cffi.FFI()
_glib.cdef("void g_free (void *mem);")


class _PangoFreeingNames:
    """Pango as WeasyPrint's PDF font module sees it, but for the one call whose result it drops."""

    def __init__(self, lib: object, g_free: object) -> None:
        self._lib = lib
        self._g_free = g_free

    def __getattr__(self, name: str) -> object:
        return getattr(self._lib, name)

    def pango_font_description_to_string(self, description: object) -> object:
        return ffi.gc(self._lib.pango_font_description_to_string(description), self._g_free)


def free_font_names() -> bool:
    """From now on the font names WeasyPrint asks Pango for are freed; False where this
    WeasyPrint is not the one whose leak this was checked against, or GLib is not found."""
    with _install:
        if isinstance(pdf_fonts.pango, _PangoFreeingNames):
            return True
        g_free = _g_free() if _checked() else None
        if g_free is None:
            return False
        pdf_fonts.pango = _PangoFreeingNames(pango, g_free)
        return True


def _g_free() -> object | None:
    for name in GLIB_NAMES:
        try:
            return _glib.dlopen(name).g_free
        except OSError:
            continue
    return None


def _checked() -> bool:
    if not on_checked_release() or pdf_fonts.pango is not pango:
        return False
    try:
        source = inspect.getsource(pdf_fonts.Font.__init__)
    except (AttributeError, OSError, TypeError):
        return False
    return (
        source.count("pango_font_description_to_string") == 1
        and LEAKING_CALL in source
        and "g_free" not in source
    )
