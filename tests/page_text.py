"""What a reader, or a screen reader, gets of a page: its text nodes (SVG text included) and the
attributes read aloud, without scripts and styles. Shared by the tests that read pages for what
they must not show (codes, small counts)."""

from __future__ import annotations

from html.parser import HTMLParser

SPOKEN = frozenset({"aria-label", "title", "alt", "placeholder", "aria-valuetext",
                    "aria-description"})
SKIPPED = frozenset({"script", "style"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr", "path", "line", "rect", "circle", "polyline", "use",
                  "stop"})


class _Visible(HTMLParser):
    def __init__(self, skip_class: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.skip_class = skip_class
        self.open: list[bool] = []  # per open element: whether it starts a skipped part

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        skipped = tag in SKIPPED or (self.skip_class is not None and self.skip_class in classes)
        if tag not in VOID:
            self.open.append(skipped)
            self.skip += skipped
        if not self.skip:
            self.parts += [value for name, value in attrs if name in SPOKEN and value]

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.open:
            self.skip -= self.open.pop()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible_text(page: str, *, skip_class: str | None = None) -> str:
    """The page's text in reading order, spaces folded; `skip_class`: leave out the inside of
    elements of that class."""
    parser = _Visible(skip_class)
    parser.feed(page)
    parser.close()
    return " ".join(" ".join(parser.parts).split())
