"""The `?page=` argument of paginated lists, bounded so a huge value never reaches OFFSET."""

from __future__ import annotations

from flask import request

MAX_PAGE = 10_000


def page_arg(max_page: int = MAX_PAGE) -> int:
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), max_page)
