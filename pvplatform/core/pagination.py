"""The `?page=` argument of paginated lists, bounded so a huge value never reaches OFFSET."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any

import sqlalchemy as sa
from flask import request
from flask_sqlalchemy.pagination import Pagination

from pvplatform.extensions import db

MAX_PAGE = 10_000


@dataclass(frozen=True)
class Page:
    """A page of rows counted by the caller, in the shape `admin/_pagination.html` reads (for
    services, which have no request to paginate from)."""

    page: int
    per_page: int
    total: int
    items: list[Any] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return ceil(self.total / self.per_page) if self.per_page > 0 else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def page_within(page: int, total: int, per_page: int) -> int:
    """The page to show: the one asked for, or the first when it is past the last."""
    return page if 1 <= page <= max(1, ceil(total / per_page)) else 1


def page_arg(max_page: int = MAX_PAGE, name: str = "page") -> int:
    page = request.args.get(name, 1, type=int) or 1
    return min(max(page, 1), max_page)


def paginate(stmt: sa.Select, *, per_page: int, name: str = "page",
             total: int | None = None) -> Pagination:
    """One page of `stmt`, chosen by the `?<name>=` argument (several lists may share a page).

    A page past the last one (a stale link, a hand-typed number) gives the first page rather
    than an empty list or an error. A caller that has already counted the rows passes `total`,
    which spares the count statement: on the large lists the count costs as much as the page."""
    page = page_arg(name=name)
    if total is not None:
        page = page_within(page, total, per_page)
        result = db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page,
                             error_out=False, count=False)
        result.total = total
        return result
    result = db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page,
                         error_out=False)
    if page > 1 and not result.items:
        result = db.paginate(stmt, page=1, per_page=per_page, max_per_page=per_page,
                             error_out=False)
    return result
