"""A render process's memory stays flat: what WeasyPrint does not free on each pack is freed.

Memory is read from glibc's own count of the bytes it has handed out and not had back
(mallinfo2), not from the process's size, which moves with whatever else the allocator keeps.
benchmarks/load.py --max-packs shows the render processes' size over many packs.
"""

import ctypes
import platform
from datetime import date

import pytest
import weasyprint.pdf.fonts as pdf_fonts
from weasyprint.text.ffi import pango

from app.render.speedups.leaks import LEAKING_CALL, free_font_names
from app.supporter import Supporter

FONTS_MADE_AGAIN = 2_000
NAME_BYTES = 128  # the smallest string GLib makes for a font's name


MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class MallocInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2.split()]


def bytes_in_use() -> int:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallocInfo
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="reads glibc's mallinfo2")
def test_the_fonts_written_into_a_pack_leave_no_memory_behind(
    renderer, supporter_data, monkeypatch
):
    assert free_font_names(), "the fix is not installed for this WeasyPrint"
    grown = []
    make = pdf_fonts.Font.__init__

    def made_again(self, *args: object) -> None:
        # While WeasyPrint writes a real pack, each of its fonts is made many times more.
        make(self, *args)
        before = bytes_in_use()
        for _ in range(FONTS_MADE_AGAIN):
            make(self, *args)
        grown.append(bytes_in_use() - before)

    monkeypatch.setattr(pdf_fonts.Font, "__init__", made_again)
    supporter = Supporter.model_validate(supporter_data)
    letters = renderer.letters(supporter, renderer.campaign.choose([]), date(2026, 12, 3))
    renderer.make_pack(letters, "kk", full=True)
    assert grown, "no font was written"
    # A leaked name per font would be FONTS_MADE_AGAIN * NAME_BYTES = 256 KB.
    assert max(grown) < FONTS_MADE_AGAIN * NAME_BYTES / 8, grown


def test_a_weasyprint_release_not_checked_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr("weasyprint.__version__", "71.0")
    monkeypatch.setattr(pdf_fonts, "pango", pango)
    assert not free_font_names()
    assert pdf_fonts.pango is pango


def test_a_weasyprint_that_frees_the_name_itself_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr(pdf_fonts, "pango", pango)
    monkeypatch.setattr(
        "inspect.getsource",
        lambda function: LEAKING_CALL + "\n        g_free(description_string)",
    )
    assert not free_font_names()
    assert pdf_fonts.pango is pango


def test_without_glib_to_free_the_name_weasyprint_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr(pdf_fonts, "pango", pango)
    monkeypatch.setattr("app.render.speedups.leaks.GLIB_NAMES", ("libglib-nowhere.so",))
    assert not free_font_names()
    assert pdf_fonts.pango is pango
