"""Reading the service's HTML the way a browser's DOM does (WeasyPrint's own HTML parser)."""

import re

import cssselect2
import tinyhtml5


class Page:
    def __init__(self, html: str) -> None:
        self.html = html
        self.root = cssselect2.ElementWrapper.from_html_root(tinyhtml5.parse(html))

    def all(self, selector: str) -> list:
        return [wrapper.etree_element for wrapper in self.root.query_all(selector)]

    def one(self, selector: str):
        found = self.all(selector)
        assert len(found) == 1, f"{selector}: {len(found)} elements"
        return found[0]

    def text(self, selector: str) -> str:
        return " ".join(text_of(element) for element in self.all(selector))

    def texts(self, selector: str) -> list[str]:
        return [text_of(element) for element in self.all(selector)]

    def attr(self, selector: str, name: str) -> str:
        return self.one(selector).get(name)

    def form_values(self, selector: str) -> list[tuple[str, str]]:
        """What the form would post, submitted without a button: (name, value) in order."""
        values = []
        for element in self.all(f"{selector} input, {selector} select, {selector} textarea"):
            name = element.get("name")
            kind = element.get("type", "text")
            if not name or kind in ("submit", "button"):
                continue
            if kind in ("checkbox", "radio"):
                if element.get("checked") is not None:
                    values.append((name, element.get("value", "on")))
            elif element.tag.endswith("select"):
                options = [o for o in element.iter() if o.tag.endswith("option")]
                chosen = [o for o in options if o.get("selected") is not None] or options[:1]
                values.append((name, chosen[0].get("value", "")))
            elif element.tag.endswith("textarea"):
                values.append((name, element.text or ""))
            else:
                values.append((name, element.get("value", "")))
        return values


def text_of(element) -> str:
    """The element's text with HTML's white space collapsed (a no-break space is kept)."""
    return re.sub(r"[ \t\n\r\f]+", " ", "".join(element.itertext())).strip()
