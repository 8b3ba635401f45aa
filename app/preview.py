"""The letters' print stylesheet adapted to the screen, so the preview shows each letter from the
same templates and the same stylesheet as the PDF.

On a web page the print stylesheet's `html` rule and `@page` box would restyle the whole page, and
its class names (`.info`, `.body`, `.message`) would touch the page's own elements. Here every
rule is scoped to `.sheet`, the preview's sheet of paper: `html` becomes the sheet itself, the
page's size and margins become the sheet's width and padding, and the stylesheet's fonts folder
points at the fonts the service serves.

The stylesheet may lay out each paper apart, under a class of the root (`html.paper-letter
.window`) and on a page named as that class (`@page paper-letter`): those rules apply to a sheet
of that class (`<div class="sheet paper-letter">`). They are scoped with `:where()`, so that
they weigh what they weigh in print, and the preview's own rules for small screens still win.
"""

import re

import tinycss2
from tinycss2.ast import AtRule, FunctionBlock, QualifiedRule, StringToken, URLToken

SHEET = ".sheet"
PAGE_SIZES = {"a4": ("210mm", "297mm"), "a5": ("148mm", "210mm"), "letter": ("8.5in", "11in")}
# The root, with classes or none, then the rest of the selector; body is the sheet itself too.
_ROOT = re.compile(r"(?:html|:root)((?:\.[-\w]+)*)(?:\s*>?\s*body\b)?(?![-\w.:#\[])")
_PAGE_NAME = re.compile(r"[A-Za-z_][-\w]*")


def _sheet(classes: str = "") -> str:
    return f"{SHEET}:where({classes})" if classes else SHEET


def _scope(selector: str) -> str:
    selector = selector.strip()
    if selector == "body":
        return SHEET
    root = _ROOT.match(selector)
    if root:
        rest = selector[root.end() :].strip()
        return f"{_sheet(root.group(1))} {rest}".strip()
    return f"{SHEET} {selector}"


def _sheet_box(page: AtRule, classes: str = "") -> str:
    """The @page rule as the sheet's box: its size and its margins as padding."""
    declarations = tinycss2.parse_blocks_contents(
        page.content or [], skip_comments=True, skip_whitespace=True
    )
    box = ["box-sizing: border-box"]
    for declaration in declarations:
        if declaration.type != "declaration":
            continue
        value = tinycss2.serialize(declaration.value).strip()
        if declaration.lower_name == "size":
            width, height = PAGE_SIZES.get(value.lower(), (None, None))
            if width:
                box += [f"width: {width}", f"min-height: {height}"]
        elif declaration.lower_name == "margin":
            box.append(f"padding: {value}")
    return f"{_sheet(classes)} {{ {'; '.join(box)}; }}"


def _point_fonts(tokens: list, fonts_url: str) -> None:
    for token in tokens:
        if isinstance(token, URLToken) and token.value.startswith("fonts/"):
            token.value = fonts_url + token.value.removeprefix("fonts/")
            token.representation = f'url("{token.value}")'
        elif isinstance(token, FunctionBlock):
            if token.lower_name == "url":
                for argument in token.arguments:
                    if isinstance(argument, StringToken) and argument.value.startswith("fonts/"):
                        argument.value = fonts_url + argument.value.removeprefix("fonts/")
                        argument.representation = f'"{argument.value}"'
            else:
                _point_fonts(token.arguments, fonts_url)


def screen_stylesheet(print_css: str, fonts_url: str) -> str:
    """The print stylesheet, scoped to `.sheet`; `fonts_url` replaces its `fonts/` folder."""
    out = []
    for rule in tinycss2.parse_stylesheet(print_css, skip_comments=True, skip_whitespace=True):
        if isinstance(rule, QualifiedRule):
            selectors = tinycss2.serialize(rule.prelude).split(",")
            body = tinycss2.serialize(rule.content)
            out.append(f"{', '.join(_scope(s) for s in selectors)} {{{body}}}")
        elif isinstance(rule, AtRule) and rule.lower_at_keyword == "page":
            name = tinycss2.serialize(rule.prelude).strip()
            if not name:
                out.append(_sheet_box(rule))
            elif _PAGE_NAME.fullmatch(name):
                out.append(_sheet_box(rule, f".{name}"))
        elif isinstance(rule, AtRule) and rule.lower_at_keyword == "font-face":
            _point_fonts(rule.content or [], fonts_url)
            out.append(tinycss2.serialize([rule]))
    return "\n".join(out) + "\n"
