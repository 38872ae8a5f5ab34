"""The ledger's lists at one reading: their lengths (the tabs) and their ids in page order,
computed once per (process, session, instant of the figures) and kept in this process's memory.

At city size each list is an anti-join over the whole process (invitations without a
registration, registrations without an attendance...): a few hundred milliseconds per scan. The
pages read the worker's stored figures, whose instant stays until the next refresh; the lists
are taken at that same instant, so the tabs agree with the figures beside them, and the next
page of a list, or another visit, is a slice of ids and one primary-key look-up. A change to the
process brings a refresh, hence figures of a new instant, and the lists are taken again then;
votes and check-ins arriving meanwhile (after that instant) cannot change a list as of it.

The process ledger's lists are the long ones (every session's invitations): the worker takes
them with the figures it stores (`take_lists`, `store_lists`), and the first view after a
refresh reads them from there in one statement rather than scanning. A session's lists are short
enough to be taken at its first view.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa

from pvplatform.core.pagination import Page, page_arg, page_within
from pvplatform.core.rows import put_row
from pvplatform.extensions import db
from pvplatform.indicators.snapshots import Memo
from pvplatform.ledger import services
from pvplatform.ledger.models import LedgerListSnapshot
from pvplatform.ledger.services import LedgerList

T = TypeVar("T")

COUNTS: Memo[dict[LedgerList, int]] = Memo(64)
IDS: Memo[list[int]] = Memo(64)


def _key(kind: object, process_id: int, as_of: datetime, meeting_id: int | None,
         keep: bool) -> tuple[object, ...] | None:
    # Only a kept reading's instant comes back: an instant taken at each view (no worker)
    # would fill the memory with entries nobody reads again.
    if not keep:
        return None
    return (kind, process_id, meeting_id, as_of)


# ---------------------------------------------------------------- taken by the worker

def take_lists(process_id: int, as_of: datetime) -> dict[str, list[int]]:
    """Every list of the process ledger as of the instant: its ids in page order."""
    return {w.value: list(db.session.scalars(
        services.ordered_ids_statement(w, process_id, as_of))) for w in LedgerList}


def store_lists(process_id: int, as_of: datetime, lists: dict[str, list[int]]) -> None:
    """Keeps the lists taken with the figures of that instant; the caller holds the process's
    refresh lock and commits."""
    put_row(LedgerListSnapshot, {"process_id": process_id}, {"as_of": as_of, "payload": lists})


def _read_stored(process_id: int, as_of: datetime) -> bool:
    """Puts the worker's lists of that instant in memory; False when it has none of it."""
    # The instant compared in SQL: lists of another instant are not fetched (nor decoded).
    payload = db.session.scalar(
        sa.select(LedgerListSnapshot.payload)
        .where(LedgerListSnapshot.process_id == process_id, LedgerListSnapshot.as_of == as_of))
    if payload is None:
        return False
    try:
        lists = {w: [int(i) for i in payload[w.value]] for w in LedgerList}
    except (KeyError, TypeError, ValueError):  # written by another version: scan instead
        return False
    COUNTS.put(("counts", process_id, None, as_of), {w: len(ids) for w, ids in lists.items()})
    for w, ids in lists.items():
        IDS.put((w, process_id, None, as_of), ids)
    return True


def _kept(memo: Memo[T], key: tuple[object, ...] | None, process_id: int,
          as_of: datetime, meeting_id: int | None) -> T | None:
    if key is None:
        return None
    found = memo.get(key)
    if found is None and meeting_id is None and _read_stored(process_id, as_of):
        found = memo.get(key)
    return found


# ---------------------------------------------------------------- what a page reads

def list_counts(process_id: int, as_of: datetime, meeting_id: int | None = None, *,
                keep: bool) -> dict[LedgerList, int]:
    key = _key("counts", process_id, as_of, meeting_id, keep)
    found = _kept(COUNTS, key, process_id, as_of, meeting_id)
    if found is None:
        found = services.list_counts(process_id, as_of, meeting_id)
        if key is not None:
            COUNTS.put(key, found)
    return found


def list_page(which: LedgerList, process_id: int, as_of: datetime,
              meeting_id: int | None = None, *, per_page: int, keep: bool) -> Page:
    """The page asked for (`?page=`) of one list: ids sliced from the list's order, rows loaded
    by those ids, in that order."""
    key = _key(which, process_id, as_of, meeting_id, keep)
    ids = _kept(IDS, key, process_id, as_of, meeting_id)
    if ids is None:
        ids = list(db.session.scalars(
            services.ordered_ids_statement(which, process_id, as_of, meeting_id)))
        if key is not None:
            IDS.put(key, ids)
    page = page_within(page_arg(), len(ids), per_page)
    chosen = ids[(page - 1) * per_page:page * per_page]
    rows = (list(db.session.scalars(services.list_rows(which, chosen)).unique())
            if chosen else [])
    return Page(page=page, per_page=per_page, total=len(ids), items=rows)
