"""The ledger's lists at one reading: their lengths (the tabs) and their ids in page order,
computed once per (process, session, instant of the figures) and kept in this process's memory.

At city size each list is an anti-join over the whole process (invitations without a
registration, registrations without an attendance...): a few hundred milliseconds per scan. The
pages read the worker's stored figures, whose instant stays until the next refresh; the lists
are taken at that same instant, so the tabs agree with the figures beside them, and the next
page of a list, or another visit, is a slice of ids and one primary-key look-up. A change to the
process brings a refresh, hence figures of a new instant, and the lists are taken again then;
votes and check-ins arriving meanwhile (after that instant) cannot change a list as of it.
"""

from __future__ import annotations

from datetime import datetime

from pvplatform.core.pagination import Page, page_arg, page_within
from pvplatform.extensions import db
from pvplatform.indicators.snapshots import Memo
from pvplatform.ledger import services
from pvplatform.ledger.services import LedgerList

COUNTS: Memo[dict[LedgerList, int]] = Memo(64)
IDS: Memo[list[int]] = Memo(64)


def _key(kind: object, process_id: int, as_of: datetime, meeting_id: int | None,
         keep: bool) -> tuple[object, ...] | None:
    # Only a kept reading's instant comes back: an instant taken at each view (no worker)
    # would fill the memory with entries nobody reads again.
    if not keep:
        return None
    return (kind, process_id, meeting_id, as_of)


def list_counts(process_id: int, as_of: datetime, meeting_id: int | None = None, *,
                keep: bool) -> dict[LedgerList, int]:
    key = _key("counts", process_id, as_of, meeting_id, keep)
    found = COUNTS.get(key) if key is not None else None
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
    ids = IDS.get(key) if key is not None else None
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
