"""`Document`: a document's text, the format it was read from, and where each page starts."""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    text: str
    """The text every strategy reads; passages' character offsets point into it."""
    kind: str
    """The format sniffed from the bytes: "text", "pdf", "html" or "docx"."""
    name: str
    """The file path as given, or "stdin"; errors name it."""
    pages: tuple[int, ...] | None = None
    """PDF only: the offset in `text` where each page starts (page 1 at `pages[0]` == 0); None otherwise."""

    @property
    def page_count(self) -> int | None:
        """The number of pages, or None for a format without pages."""
        return None if self.pages is None else len(self.pages)

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding character `offset` (None without pages); the text between pages
        belongs to the page before it, and an offset past the end to the last page."""
        if self.pages is None:
            return None
        return max(1, bisect.bisect_right(self.pages, offset))

    def pages_of(self, start: int, end: int) -> list[int]:
        """The 1-based pages that the span [start, end) touches, in order ([] without pages)."""
        if self.pages is None:
            return []
        first = self.page_of(start)
        last = self.page_of(max(start, end - 1))
        return list(range(first, last + 1))

    def cite(self, result: dict) -> dict:
        """A `Summary.to_dict()` result plus the document's kind and page count and, for a PDF, each
        passage's pages (`"page": [...]`): what `summarize --json` and the service return."""
        result["document"] = {"kind": self.kind, "pages": self.page_count}
        if self.pages is not None:
            for passage in result.get("passages") or []:
                passage["page"] = self.pages_of(passage["start"], passage["end"])
        return result

