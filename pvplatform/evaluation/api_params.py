"""Query parameters of the API: read strictly (a malformed value is a 400, never a 500), and
only those the OpenAPI document names (others are ignored)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import request, url_for
from flask_babel import gettext as _

from pvplatform.evaluation.api_errors import bad_parameter
from pvplatform.extensions import db

PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 100
PAGE_MAX = 10_000  # bounds OFFSET: 1,000,000 rows at most
AS_OF_MAX_LENGTH = 40

# The instants the engine is asked about: an instant outside these bounds (year 1, year 9999)
# is read as the nearest bound, where every figure is the same (nothing happened before 1900,
# nothing will after 9000) and date arithmetic cannot overflow.
AS_OF_MIN = datetime(1900, 1, 1, tzinfo=UTC)
AS_OF_MAX = datetime(9000, 1, 1, tzinfo=UTC)

_INTEGER = re.compile(r"[0-9]{1,9}")
# RFC 3339 date-time (the OpenAPI `date-time` format), seconds 00-59.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")


def _integer(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise bad_parameter(name, _("a whole number is expected."))
    value = int(raw)
    if not low <= value <= high:
        raise bad_parameter(name, _("a whole number from %(low)s to %(high)s is expected.",
                                    low=low, high=high))
    return value


@dataclass(frozen=True)
class PageArgs:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_args() -> PageArgs:
    return PageArgs(_integer("page", 1, 1, PAGE_MAX),
                    _integer("per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX))


def as_of_arg(now: datetime) -> datetime:
    """?as_of= (RFC 3339, with its offset); `now` when absent."""
    raw = request.args.get("as_of")
    if raw is None:
        return now
    message = _("an RFC 3339 date and time with its offset is expected, for example "
                "2026-03-01T00:00:00+01:00.")
    match = _DATE_TIME.fullmatch(raw) if len(raw) <= AS_OF_MAX_LENGTH else None
    if match is None:
        raise bad_parameter("as_of", message)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    try:
        # The wall-clock reading, offset still to subtract.
        local = datetime(year, month, day, hour, minute, second,
                         int((fraction or "0")[:6].ljust(6, "0")), tzinfo=UTC)
    except ValueError:
        raise bad_parameter("as_of", message) from None
    offset = timedelta(0)
    if not zulu:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            raise bad_parameter("as_of", message)
        offset = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
    try:
        instant = local - offset
    except OverflowError:
        return AS_OF_MIN if offset > timedelta(0) else AS_OF_MAX
    return min(max(instant, AS_OF_MIN), AS_OF_MAX)


# ---------------------------------------------------------------- pages


def _link(page: int, args: PageArgs) -> str:
    values: dict[str, Any] = dict(request.view_args or {})
    # Only the document's parameters travel from one page to the next.
    if "as_of" in request.args:
        values["as_of"] = request.args["as_of"]
    return url_for(str(request.endpoint), **values, page=page, per_page=args.per_page)


def envelope(items: list[Any], args: PageArgs, total: int, **extra: Any) -> dict[str, Any]:
    last = max(1, math.ceil(total / args.per_page))
    return {
        "items": items,
        "page": args.page,
        "per_page": args.per_page,
        "total": total,
        "next": _link(args.page + 1, args) if args.page < last else None,
        "previous": _link(min(args.page - 1, last), args) if args.page > 1 else None,
        **extra,
    }


def page_of(rows: Sequence[Any], args: PageArgs) -> list[Any]:
    """The page of a list already computed whole (the engine's rows, suppressed as a whole)."""
    return list(rows[args.offset:args.offset + args.per_page])


def page_query(stmt: sa.Select, count: sa.Select, args: PageArgs) -> tuple[list[Any], int]:
    """One page of an ordered ORM statement, and the total (`count` counts the same rows)."""
    total = int(db.session.scalar(count) or 0)
    rows = list(db.session.scalars(stmt.limit(args.per_page).offset(args.offset)))
    return rows, total
