"""Figures the dashboard shows beyond the contract's codes (INDICATORS.md allows extra codes).

The contract's rows give no per-session invitation count, attendance count or walk-in count, and
no population share beside the attendee share, so they are computed here, with the engine's own
definitions (`sets`), in a fixed number of statements:

- `session_invited` (session_id, every session of the process): its invitation pairs (distinct
  participants invited at or before T and before the session started; invitations addressed to
  an association left out, as for uptake_rate); n the same.
- `session_registered` (session_id, every session): live registrations of the session (as in
  no_show_rate); n the same.
- `session_attended` (session_id, held sessions): attendees of the session (checked in at or
  before T); n the same.
- `session_walk_ins` (session_id, held sessions): attendees of the session without a live
  registration for it; n the same.
- `attendee_share` (dimension, category): a_c / A, from the representation_ratio (a_c) and
  dissimilarity (A) rows; n = a_c.
- `attendee_share_low`, `attendee_share_high` (dimension, category): the bounds of the Wilson
  95% score interval of a_c successes in A trials (`stats.wilson_interval`), rounded to 6
  decimals, null when A = 0; n = a_c, as the share's. (Active participants have no share row,
  only their ratio: no interval for them.)

For a held session, attended = registered - no-shows + walk-ins. `reference_shares` gives the
normalised population share of each stratum: reference data, not a figure about people. Names
of dimensions and categories are not read here: pages read them in their reader's language
(`participation.labels`), whatever instant the figures are of.

These codes are not part of `compute_indicators` (whose rows must equal the contract's expected
files); the dashboard asks for them beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from pvplatform.core.sql import binary_order
from pvplatform.extensions import db
from pvplatform.indicators.engine import check_instant
from pvplatform.indicators.rows import IndicatorRow, ratio, round6
from pvplatform.indicators.sets import ProcessSets
from pvplatform.indicators.stats import wilson_interval
from pvplatform.participation.models import Dimension, Stratum
from pvplatform.sessions.models import Meeting

FUNNEL_CODES = ("session_invited", "session_registered", "session_attended", "session_walk_ins")


@dataclass(frozen=True)
class SessionLabel:
    id: int
    title: str
    starts_at: datetime
    held: bool


def _int(value: object) -> int:
    return int(value) if value is not None else 0  # type: ignore[call-overload]


def session_funnel(process_id: int, as_of: datetime
                   ) -> tuple[list[IndicatorRow], list[SessionLabel]]:
    """Funnel rows of every session of the process as of T, in the engine's session order, with
    the sessions' titles and start instants (one SQL statement)."""
    as_of = check_instant(as_of)
    s = ProcessSets(process_id, as_of)
    invited = (
        sa.select(s.pairs.c.sid, sa.func.count().label("n"))
        .group_by(s.pairs.c.sid)
        .subquery()
    )
    registered = (
        sa.select(s.live.c.sid, sa.func.count().label("n"))
        .group_by(s.live.c.sid)
        .subquery()
    )
    # `att` holds one row per attendance (unique per session and person) and `live` one per
    # (session, person): the outer join neither loses nor doubles an attendee.
    attended = (
        sa.select(
            s.held.c.id.label("sid"),
            sa.func.count().label("n"),
            sa.func.count(sa.case((s.live.c.pid.is_(None), 1))).label("walk_ins"),
        )
        .select_from(
            s.att.join(s.held, s.held.c.k == s.att.c.k).outerjoin(
                s.live, sa.and_(s.live.c.sid == s.held.c.id, s.live.c.pid == s.att.c.pid))
        )
        .group_by(s.held.c.id)
        .subquery()
    )
    reference = sa.func.coalesce(Meeting.external_ref, sa.cast(Meeting.id, sa.String))
    result = db.session.execute(
        sa.select(
            Meeting.id, Meeting.title, Meeting.starts_at,
            sa.func.coalesce(invited.c.n, 0),
            sa.func.coalesce(registered.c.n, 0),
            sa.func.coalesce(attended.c.n, 0),
            sa.func.coalesce(attended.c.walk_ins, 0),
        )
        .outerjoin(invited, invited.c.sid == Meeting.id)
        .outerjoin(registered, registered.c.sid == Meeting.id)
        .outerjoin(attended, attended.c.sid == Meeting.id)
        .where(Meeting.process_id == process_id)
        .order_by(Meeting.starts_at, binary_order(reference))
    ).all()
    rows: list[IndicatorRow] = []
    labels: list[SessionLabel] = []
    for sid, title, starts_at, n_invited, n_registered, n_attended, n_walk_ins in result:
        held = starts_at <= as_of
        labels.append(SessionLabel(sid, title, starts_at, held))
        n_invited, n_registered = _int(n_invited), _int(n_registered)
        rows.append(IndicatorRow("session_invited", n_invited, n_invited, session_id=sid))
        rows.append(IndicatorRow("session_registered", n_registered, n_registered,
                                 session_id=sid))
        if held:
            n_attended, n_walk_ins = _int(n_attended), _int(n_walk_ins)
            rows.append(IndicatorRow("session_attended", n_attended, n_attended,
                                     session_id=sid))
            rows.append(IndicatorRow("session_walk_ins", n_walk_ins, n_walk_ins,
                                     session_id=sid))
    return rows, labels


def attendee_share_rows(rows: list[IndicatorRow]) -> list[IndicatorRow]:
    """a_c / A per stratum, from the engine's representation_ratio (a_c) and dissimilarity (A)
    rows: no second reading of the database, so the share always matches the ratio beside it.
    Each share is followed by the bounds of its Wilson 95% interval (a_c successes in A
    trials), with the share's n: they give a_c back roughly, so suppression must hide them
    exactly when it hides the share, and equal n in parallel partitions makes it do so."""
    known = {r.dimension: r.n for r in rows if r.code == "dissimilarity"}
    shares: list[IndicatorRow] = []
    for r in rows:
        if r.code != "representation_ratio":
            continue
        total = known.get(r.dimension, 0)
        keys = {"dimension": r.dimension, "category": r.category}
        interval = wilson_interval(r.n, total)
        low, high = interval if interval is not None else (None, None)
        shares.append(IndicatorRow("attendee_share", ratio(r.n, total), r.n, **keys))
        shares.append(IndicatorRow("attendee_share_low", round6(low), r.n, **keys))
        shares.append(IndicatorRow("attendee_share_high", round6(high), r.n, **keys))
    return shares


@dataclass(frozen=True)
class StratumInfo:
    share: float | None


def reference_shares(process_id: int) -> dict[tuple[str, str], StratumInfo]:
    """(dimension, category) -> its population share normalised to sum to 1 per dimension, as
    the engine does (None when a dimension's shares sum to 0)."""
    strata = db.session.execute(
        sa.select(Stratum.dimension, Stratum.category, Stratum.population_share)
        .where(Stratum.process_id == process_id)
        .order_by(Stratum.dimension, Stratum.category)
    ).all()
    totals: dict[str, float] = {}
    for dimension, _category, share in strata:
        totals[dimension] = totals.get(dimension, 0.0) + float(share)
    return {
        (dimension, category): StratumInfo(
            float(share) / totals[dimension] if totals[dimension] > 0 else None)
        for dimension, category, share in strata
    }


@dataclass(frozen=True)
class DimensionInfo:
    placeholder_shares: bool  # equal shares set by default, waiting for census figures


def dimension_info(process_id: int) -> dict[str, DimensionInfo]:
    """What the dashboard says of the process's demographic questions beside their figures
    (an imported package may have no question row)."""
    return {
        code: DimensionInfo(bool(placeholder))
        for code, placeholder in db.session.execute(
            sa.select(Dimension.code, Dimension.placeholder_shares)
            .where(Dimension.process_id == process_id).order_by(Dimension.code))
    }
