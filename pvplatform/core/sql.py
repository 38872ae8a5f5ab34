"""The SQL expressions that SQLite and PostgreSQL spell differently, behind one name each (used by
the indicator engine and by features that add up durations)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class seconds_between(FunctionElement[float]):  # noqa: N801 - used like a SQL function
    """later - earlier in seconds (a float), for two timestamp expressions."""

    type = sa.Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_default(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (f"EXTRACT(EPOCH FROM ({compiler.process(later, **kw)}"
            f" - {compiler.process(earlier, **kw)}))")


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # SQLite's date functions count in whole milliseconds, and the platform's timestamps carry
    # microseconds: an answer 30 days and 400 us after its publication is not "within 30 days".
    # So whole seconds come from julianday() on "YYYY-MM-DD HH:MM:SS" (exact once rounded) and
    # the fraction from the stored text after it (".ffffff", or nothing).
    later = compiler.process(list(element.clauses)[0], **kw)
    earlier = compiler.process(list(element.clauses)[1], **kw)
    return (f"(ROUND((julianday(substr({later}, 1, 19)) - julianday(substr({earlier}, 1, 19)))"
            f" * 86400.0) + (CAST(substr({later}, 20) AS REAL)"
            f" - CAST(substr({earlier}, 20) AS REAL)))")


class binary_order(FunctionElement[str]):  # noqa: N801 - used like a SQL function
    """A string compared code point by code point ("plain string order"), whatever the locale."""

    type = sa.String()
    inherit_cache = True
    name = "binary_order"


@compiles(binary_order)
def _binary_default(element: binary_order, compiler: Any, **kw: Any) -> str:
    # SQLite's default BINARY collation already compares UTF-8 bytes, i.e. code points.
    return compiler.process(element.clauses, **kw)


@compiles(binary_order, "postgresql")
def _binary_postgresql(element: binary_order, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'
