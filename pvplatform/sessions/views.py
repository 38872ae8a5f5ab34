"""Session pages: the public page with register / cancel / join, and the staff screens (create,
edit, invite, registrations, check-in, speaking turns, close)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import segno
import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_percent, format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from pvplatform.auth import permissions
from pvplatform.auth.models import Association, User
from pvplatform.core.base_url import external_url
from pvplatform.core.form_views import form_page, save_form, show_domain_error, submit_form
from pvplatform.core.i18n import local_to_utc, town_zone, utc_to_local
from pvplatform.core.lookup import get_or_404, valid_id
from pvplatform.core.pagination import page_arg, paginate
from pvplatform.core.security import CSP
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db
from pvplatform.participation.forms import answer_field_name, demographics_form
from pvplatform.participation.labels import labels_of
from pvplatform.participation.services import KIND_FOR_ROLE, find_participant, participant_for
from pvplatform.processes.models import Process
from pvplatform.sessions import paper_sheet as sheets
from pvplatform.sessions import services, speaking
from pvplatform.sessions.forms import (
    CheckInCodeForm,
    CheckInRegistrationForm,
    CloseForm,
    DeleteSpeakingTurnForm,
    InviteAssociationForm,
    InviteUserForm,
    MeetingForm,
    SamePersonForm,
    SpeakingTurnForm,
    WalkInForm,
    walk_in_form,
)
from pvplatform.sessions.models import (
    Attendance,
    Invitation,
    Meeting,
    MeetingFormat,
    Registration,
)

bp = Blueprint("sessions", __name__)

SEARCH_MAX = 100
REGISTRATIONS_PER_PAGE = 100
INVITATIONS_PER_PAGE = 50
RECENT_CHECK_INS = 50
USER_RESULTS = 20
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


@bp.app_template_filter("speaking_duration")
def speaking_duration(seconds: float | None) -> str:
    """A speaking time as people say it: "45 s", "3 min 05 s", "1 h 02 min 10 s"."""
    if seconds is None:
        return "–"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(hours)s h %(minutes)s min %(seconds)s s", hours=hours,
                 minutes=f"{minutes:02d}", seconds=f"{secs:02d}")
    if minutes:
        return _("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=f"{secs:02d}")
    return _("%(seconds)s s", seconds=secs)


@bp.app_template_filter("speaking_share")
def speaking_share(value: float | None) -> str:
    return "–" if value is None else format_percent(value, "#,##0.#%")


def _search_term(name: str) -> str:
    # Query strings are not form fields: trim, bound and drop control characters here.
    raw = request.values.get(name, "", type=str)[:SEARCH_MAX]
    return "".join(c for c in raw if ord(c) >= 32).strip()


# ---------------------------------------------------------------- public page


@bp.get("/sessions/<int:meeting_id>")
def detail(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    now = utcnow()
    participant = None
    registration = attendance = None
    invited = False
    if permissions.can_register_for(current_user, meeting):
        # GET never creates the participant: only look it up.
        participant = find_participant(current_user)
        if participant is not None:
            registration = services.live_registration(meeting, participant)
            attendance = services.attendance_of(meeting, participant)
            invited = services.is_invited(meeting, participant)
    is_staff_viewer = permissions.can_manage_sessions(current_user, meeting.process) or \
        permissions.can_check_in(current_user, meeting)
    join_open = services.join_window_open(meeting, now)
    page = render_template(
        "sessions/detail.html",
        meeting=meeting,
        participant=participant,
        registration=registration,
        attendance=attendance,
        invited=invited,
        show_link=bool(meeting.online_url) and (registration is not None or is_staff_viewer),
        capacity_left=services.capacity_left(meeting),
        started=services.is_started(meeting, now),
        join_open=join_open,
    )
    response = make_response(page)
    if join_open and (registration is not None or attendance is not None):
        _allow_form_redirect_to(response, meeting.online_url)
    return response


def _allow_form_redirect_to(response: Response, url: str) -> None:
    """The "Join now" form posts here and is redirected to the meeting's own site; browsers apply
    the page's CSP form-action to that redirect, so this page lets the form go to that one origin.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not services.is_safe_online_url(url) or not _HOST_RE.fullmatch(host):
        return
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return
    origin = f"{parts.scheme}://{host}{port}"
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )


@bp.post("/sessions/<int:meeting_id>/register")
@login_required
def register(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_register_for(current_user, meeting))
    registration = services.register(meeting, participant_for(current_user), now=utcnow())
    db.session.commit()
    flash(_("You are registered. Your registration code is %(code)s.", code=registration.code),
          "success")
    target = url_for("sessions.detail", meeting_id=meeting.id)
    from pvplatform.participation.demographics import should_ask

    if should_ask(registration.participant, today=utc_to_local(utcnow(), town_zone()).date()):
        flash(_("Would you tell us a little about yourself?"), "success")
        target = url_for("participation.my_demographics", next=target)
    return redirect(target, 303)


@bp.post("/sessions/<int:meeting_id>/cancel")
@login_required
def cancel(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_register_for(current_user, meeting))
    services.cancel_registration(meeting, participant_for(current_user), now=utcnow())
    db.session.commit()
    flash(_("Your registration is cancelled."), "success")
    return redirect(url_for("sessions.detail", meeting_id=meeting.id), 303)


@bp.post("/sessions/<int:meeting_id>/join")
@login_required
def join(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_register_for(current_user, meeting))
    target = services.join_online(meeting, participant_for(current_user), now=utcnow())
    db.session.commit()
    # join_online only ever returns a checked absolute http(s) link.
    return redirect(target, 303)


# ---------------------------------------------------------------- staff: list, create, edit


@bp.get("/manage/processes/<int:process_id>/sessions")
@login_required
def admin_list(process_id: int):
    process = get_or_404(Process, process_id)
    _require(permissions.can_manage_sessions(current_user, process))
    live = (
        sa.select(Registration.meeting_id, sa.func.count().label("n"))
        .where(Registration.cancelled_at.is_(None))
        .group_by(Registration.meeting_id)
        .subquery()
    )
    attended = (
        sa.select(Attendance.meeting_id, sa.func.count().label("n"))
        .group_by(Attendance.meeting_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Meeting, sa.func.coalesce(live.c.n, 0), sa.func.coalesce(attended.c.n, 0))
        .outerjoin(live, live.c.meeting_id == Meeting.id)
        .outerjoin(attended, attended.c.meeting_id == Meeting.id)
        .where(Meeting.process_id == process.id)
        .order_by(Meeting.starts_at, Meeting.id)
    ).all()
    return render_template("sessions/admin_list.html", process=process, rows=rows)


def _meeting_data(form: MeetingForm) -> services.MeetingData:
    zone = town_zone()
    return services.MeetingData(
        title=form.title.data or "",
        format=MeetingFormat(form.format.data),
        starts_at=local_to_utc(form.starts_at.data, zone),
        ends_at=local_to_utc(form.ends_at.data, zone),
        location=form.location.data or "",
        online_url=form.online_url.data or "",
        capacity=form.capacity.data,
        agenda=form.agenda.data or "",
    )


@bp.route("/manage/processes/<int:process_id>/sessions/new", methods=["GET", "POST"])
@login_required
def create(process_id: int):
    process = get_or_404(Process, process_id)
    _require(permissions.can_manage_sessions(current_user, process))
    form = MeetingForm()
    outcome = submit_form(form, lambda: services.create_meeting(
        process, _meeting_data(form), by=current_user, now=utcnow(),
    ), refusals=DomainError)
    if outcome.accepted:
        meeting = outcome.result
        db.session.commit()
        flash(_("The session is created."), "success")
        return redirect(url_for("sessions.manage", meeting_id=meeting.id), 303)
    # 422 for any refusal, whatever its own status: the form says what to change.
    return form_page("sessions/edit.html", form, process=process, meeting=None)


@bp.route("/manage/sessions/<int:meeting_id>/edit", methods=["GET", "POST"])
@login_required
def edit(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_manage_sessions(current_user, meeting.process))
    if request.method == "GET":
        zone = town_zone()
        form = MeetingForm(
            data={
                "title": meeting.title,
                "format": meeting.format.value,
                "starts_at": utc_to_local(meeting.starts_at, zone).replace(tzinfo=None),
                "ends_at": utc_to_local(meeting.ends_at, zone).replace(tzinfo=None)
                if meeting.ends_at else None,
                "location": meeting.location,
                "online_url": meeting.online_url,
                "capacity": meeting.capacity,
                "agenda": meeting.agenda,
            }
        )
        return render_template("sessions/edit.html", form=form, process=meeting.process,
                               meeting=meeting)
    form = MeetingForm()
    saved = save_form(
        form, lambda: services.update_meeting(meeting, _meeting_data(form), by=current_user,
                                              now=utcnow()),
        done=_("The session is saved."),
        back=url_for("sessions.manage", meeting_id=meeting.id), code=303, refusals=DomainError)
    if saved is not None:
        return saved
    return render_template("sessions/edit.html", form=form, process=meeting.process,
                           meeting=meeting), 422


# ---------------------------------------------------------------- staff: the session screen


def _association_choices(blank: str | None) -> list[tuple[int, str]]:
    # Approved associations only: one named at sign-up waits for staff before it is invited.
    from pvplatform.auth.membership import approved_associations

    rows = db.session.execute(approved_associations()).all()
    choices = [(0, blank)] if blank is not None else []
    return choices + [(row.id, row.name) for row in rows]


def _walk_in_form(meeting: Meeting, **kwargs: Any) -> WalkInForm:
    form = walk_in_form(services.walk_in_questions(meeting), **kwargs)
    form.association.choices = _association_choices("—")
    return form


def _invite_association_form(**kwargs: Any) -> InviteAssociationForm:
    form = InviteAssociationForm(**kwargs)
    form.association_id.choices = _association_choices(None)
    return form


def _registrations(meeting: Meeting, q: str):
    return paginate(services.registrations_statement(meeting.id, q),
                    per_page=REGISTRATIONS_PER_PAGE,
                    total=services.list_total(Registration, meeting.id, q))


def _invitations(meeting: Meeting, q: str):
    # Its own page argument: paging the invitations keeps the registrations where they were.
    return paginate(services.invitations_statement(meeting.id, q),
                    per_page=INVITATIONS_PER_PAGE, name="ipage",
                    total=services.list_total(Invitation, meeting.id, q))


def _found_users(meeting: Meeting, find: str) -> list[User]:  # noqa: ARG001
    if not find:
        return []
    needle = find.lower()
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.deleted_at.is_(None),
                User.role.in_(list(KIND_FOR_ROLE)),
                sa.or_(
                    sa.func.lower(User.email, type_=sa.String).contains(needle,
                                                                         autoescape=True),
                    sa.func.lower(User.display_name, type_=sa.String).contains(
                        needle, autoescape=True),
                ),
            )
            .order_by(User.display_name, User.id)
            .limit(USER_RESULTS)
        )
    )


def _fresh_speaking_turn_form(meeting: Meeting, now: datetime) -> SpeakingTurnForm:
    start = utc_to_local(speaking.default_start(meeting, now), town_zone())
    return SpeakingTurnForm(formdata=None, data={
        "turn_participant": 0,
        "turn_start": start.replace(tzinfo=None, microsecond=0),
        "turn_minutes": 2,
        "turn_seconds": 0,
    })


def _render_manage(meeting: Meeting, *, status: int = 200, error: str | None = None,
                   code_form: CheckInCodeForm | None = None,
                   walk_in_form: WalkInForm | None = None,
                   invite_form: InviteAssociationForm | None = None,
                   close_form: CloseForm | None = None,
                   turn_form: SpeakingTurnForm | None = None,
                   duplicate: services.ProbableDuplicate | None = None):
    now = utcnow()
    q = _search_term("q")
    find = _search_term("find")
    speaker = _search_term("speaker")
    # A refused form keeps what was typed; the people to choose from are the attendees now.
    chosen = turn_form.turn_participant.data if turn_form is not None else None
    turn_form = turn_form or _fresh_speaking_turn_form(meeting, now)
    attendees = speaking.attendees(meeting, search=speaker, chosen=chosen)
    turn_form.turn_participant.choices = [(0, _("Choose a person"))] + [
        (p.id, p.name) for p in attendees]
    registrations = _registrations(meeting, q)
    page_participants = [r.participant_id for r in registrations.items]
    attended_ids = set(
        db.session.scalars(
            sa.select(Attendance.participant_id).where(
                Attendance.meeting_id == meeting.id,
                Attendance.participant_id.in_(page_participants),
            )
        )
    ) if page_participants else set()
    recent = services.recent_check_ins(meeting.id, RECENT_CHECK_INS)
    # Only those who manage the session see its invitations: nobody else pays for the query.
    may_manage = permissions.can_manage_sessions(current_user, meeting.process)
    walk_in_form = walk_in_form or _walk_in_form(meeting, formdata=None)
    asks_demographics = bool(walk_in_form.demographic_fields())
    # Walk-ins without an account may give their demographics on their phone (a QR code).
    phone_link_ids = {a.id for a in recent if services.may_have_walk_in_link(a)} \
        if asks_demographics else set()
    walked_in = _walked_in(meeting) if asks_demographics and duplicate is None else None
    return render_template(
        "sessions/manage.html",
        meeting=meeting,
        error=error,
        q=q,
        find=find,
        found_users=_found_users(meeting, find),
        registrations=registrations,
        attended_ids=attended_ids,
        invitations=_invitations(meeting, q) if may_manage else None,
        recent=recent,
        live_count=services.live_registration_count(meeting.id),
        attendance_count=services.attendance_count(meeting.id),
        capacity_left=services.capacity_left(meeting),
        check_in_open=services.check_in_window_open(meeting, now),
        started=services.is_started(meeting, now),
        code_form=code_form or CheckInCodeForm(formdata=None),
        walk_in_form=walk_in_form,
        duplicate=duplicate,
        duplicate_fields=_resubmitted_fields(walk_in_form) if duplicate is not None else [],
        phone_link_ids=phone_link_ids,
        walked_in=walked_in,
        invite_form=invite_form or _invite_association_form(formdata=None),
        close_form=close_form or CloseForm(formdata=None),
        attendees=attendees,
        attendee_choices=speaking.ATTENDEE_CHOICES,
        speaker=speaker,
        speaking=speaking.summary(meeting, turns_page=page_arg(name="tpage")),
        turn_form=turn_form,
        turn_window=speaking.turn_window(meeting),
    ), status


def _walked_in(meeting: Meeting) -> Attendance | None:
    """The walk-in just checked in (named by the redirect), when they may get a phone link."""
    ident = valid_id(request.args.get("walk_in", type=str))
    attendance = db.session.get(Attendance, ident) if ident else None
    if attendance is None or attendance.meeting_id != meeting.id \
            or not services.may_have_walk_in_link(attendance) \
            or services.walk_in_link_used(attendance):
        return None
    return attendance


def _resubmitted_fields(form: WalkInForm) -> list[tuple[str, str]]:
    """What "different person, check in anyway" posts again: the walk-in form as typed (its
    own fields only, never other request values)."""
    fields = []
    for field in form:
        if field.name in ("csrf_token", "different_person") or field.name not in request.form:
            continue
        fields.append((field.name, request.form.get(field.name, type=str)))
    return fields


def _can_open_manage(meeting: Meeting) -> bool:
    return permissions.can_manage_sessions(current_user, meeting.process) or \
        permissions.can_check_in(current_user, meeting)


@bp.get("/manage/sessions/<int:meeting_id>")
@login_required
def manage(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(_can_open_manage(meeting))
    return _render_manage(meeting)


def _back_to_manage(meeting: Meeting, anchor: str, **extra: Any):
    q = _search_term("q")
    args = {"q": q} if q else {}
    return redirect(url_for("sessions.manage", meeting_id=meeting.id, _anchor=anchor, **args,
                            **extra), 303)


def _refused(meeting: Meeting, err: DomainError, **forms: Any):
    # The staff stay on their screen with the reason, rather than landing on an error page.
    db.session.rollback()
    for form in forms.values():
        field = getattr(form, err.field, None) if err.field else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, err.message]
            return _render_manage(meeting, status=err.status, **forms)
    return _render_manage(meeting, status=err.status, error=err.message, **forms)


@bp.post("/manage/sessions/<int:meeting_id>/invite")
@login_required
def invite(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_manage_sessions(current_user, meeting.process))
    now = utcnow()
    link = url_for("sessions.detail", meeting_id=meeting.id)
    if "user_id" in request.form:
        form = InviteUserForm()
        if not form.validate_on_submit():
            return _render_manage(meeting, status=422,
                                  error=_("Choose a person from the search results."))
        user = db.session.get(User, form.user_id.data)
        if user is None or not user.is_active or KIND_FOR_ROLE.get(user.role) is None:
            return _render_manage(meeting, status=422,
                                  error=_("This person does not exist or cannot take part."))
        try:
            invitation = services.invite_participant(meeting, participant_for(user),
                                                     by=current_user, now=now, link=link)
        except DomainError as err:
            return _refused(meeting, err)
        name = invitation.participant.name if invitation.participant else user.display_name
    elif "association_id" in request.form:
        form = _invite_association_form()
        if not form.validate_on_submit():
            return _render_manage(meeting, status=422, invite_form=form)
        association = db.session.get(Association, form.association_id.data)
        try:
            services.invite_association(meeting, association, by=current_user, now=now,
                                        link=link)
        except DomainError as err:
            return _refused(meeting, err, invite_form=form)
        name = association.name
    else:
        return _render_manage(meeting, status=422,
                              error=_("Choose a person or an association to invite."))
    db.session.commit()
    flash(_("%(name)s is invited.", name=name), "success")
    return _back_to_manage(meeting, "invitations")


@bp.post("/manage/sessions/<int:meeting_id>/checkin")
@login_required
def checkin(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_check_in(current_user, meeting))
    now = utcnow()
    forms: dict[str, Any] = {}
    with_demographics = False
    try:
        if "registration_id" in request.form:
            form = CheckInRegistrationForm()
            if not form.validate_on_submit():
                message = _("This registration does not exist.") if form.registration_id.errors \
                    else _("Choose how the person attends.")
                return _render_manage(meeting, status=422, error=message)
            registration = services.get_registration(meeting, form.registration_id.data)
            attendance = services.check_in_registration(meeting, registration, by=current_user,
                                                        mode=form.mode.data, now=now)
        elif "code" in request.form:
            form = forms["code_form"] = CheckInCodeForm()
            if not form.validate_on_submit():
                return _render_manage(meeting, status=422, code_form=form)
            attendance = services.check_in_by_code(meeting, form.code.data, by=current_user,
                                                   mode=form.mode.data, now=now)
        elif "same_person" in request.form:
            form = SamePersonForm()
            if not form.validate_on_submit():
                return _render_manage(meeting, status=422,
                                      error=_("This check-in does not exist in this session."))
            existing = services.same_person(meeting, form.same_person.data)
            # Nothing is stored: the person was already checked in.
            flash(_("Nothing new was stored: %(name)s was already checked in at %(time)s, and "
                    "that check-in is kept.", name=existing.participant.name,
                    time=format_time(existing.checked_in_at, "short")), "success")
            return _back_to_manage(meeting, "checkin")
        elif "name" in request.form:
            form = forms["walk_in_form"] = _walk_in_form(meeting)
            if not form.validate_on_submit():
                return _render_manage(meeting, status=422, walk_in_form=form)
            questions = services.walk_in_questions(meeting)
            answers = form.answers(questions)
            consent = getattr(form, "consent", None)
            consented = bool(consent is not None and consent.data)
            attendance = services.check_in_walk_in(
                meeting, form.name.data, form.kind.data, form.association.data or None,
                by=current_user, now=now, answers=answers, consent=consented,
                questions=questions, different_person=form.different_person.data == "1",
            )
            with_demographics = consented and any(answers.values())
        else:
            return _render_manage(meeting, status=422,
                                  error=_("Choose a registration, type a code or add a walk-in."))
    except services.ProbableDuplicate as err:
        db.session.rollback()
        return _render_manage(meeting, status=err.status, duplicate=err, **forms)
    except DomainError as err:
        return _refused(meeting, err, **forms)
    name = attendance.participant.name
    walk_in = attendance.id if attendance.walk_in else None
    db.session.commit()
    if with_demographics:
        flash(_("%(name)s is checked in, with the demographics they agreed to give.", name=name),
              "success")
    else:
        flash(_("%(name)s is checked in.", name=name), "success")
    if walk_in is not None:
        return _back_to_manage(meeting, "checkin", walk_in=walk_in)
    return _back_to_manage(meeting, "checkin")


# ---------------------------------------------------------------- walk-ins: the phone link


def _no_store(body: str, status: int = 200) -> Response:
    # The page holds (or answers) a bearer link: no browser or proxy keeps it.
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/manage/sessions/<int:meeting_id>/walk-ins/<int:attendance_id>/phone-link")
@login_required
def walk_in_qr(meeting_id: int, attendance_id: int):
    """Staff show a walk-in a QR code of their own link, to give their demographics on their
    phone. Showing it stores nothing: the link is signed, not kept."""
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_check_in(current_user, meeting))
    attendance = get_or_404(Attendance, attendance_id)
    if attendance.meeting_id != meeting.id:
        abort(404)
    now = utcnow()
    questions = services.walk_in_questions(meeting)
    used = services.walk_in_link_used(attendance)
    link = qr_svg = None
    if services.may_have_walk_in_link(attendance) and questions and not used:
        token = services.walk_in_link_token(attendance, secret_key=current_app.config[
            "SECRET_KEY"], now=now)
        link = external_url("sessions.walk_in_demographics", token=token)
        # segno draws the SVG here, from the link alone: no outside service sees it. A data:
        # image, so that no markup of ours is built from it.
        qr_svg = segno.make(link, error="m").svg_data_uri(scale=6, dark="#000", light="#fff")
    return _no_store(render_template(
        "sessions/walk_in_qr.html", meeting=meeting, attendance=attendance,
        eligible=services.may_have_walk_in_link(attendance), questions=questions, used=used,
        link=link, qr_svg=qr_svg, expires_at=now + services.WALK_IN_LINK_LIFETIME,
    ))


@bp.route("/walk-in/<token>", methods=["GET", "POST"])
def walk_in_demographics(token: str):
    """A walk-in, without an account, gives their demographics for the one attendance their
    link names. Anyone holding a valid link may use it once; nothing else is reachable."""
    _require(permissions.can_use_walk_in_link(current_user))
    now = utcnow()
    secret_key = current_app.config["SECRET_KEY"]
    try:
        attendance = services.attendance_for_link(token, secret_key=secret_key, now=now)
    except services.WalkInLinkRefused as err:
        db.session.rollback()
        return _no_store(render_template("sessions/walk_in_link.html", refused=err),
                         err.status)
    meeting = attendance.meeting
    questions = services.walk_in_questions(meeting)
    form = demographics_form(questions)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            answers = {q.code: form[answer_field_name(q.code)].data or None for q in questions}
            try:
                result = services.give_walk_in_demographics(
                    attendance, answers, consent=bool(form.consent.data), now=now)
            except services.WalkInLinkRefused as err:
                db.session.rollback()
                return _no_store(render_template("sessions/walk_in_link.html", refused=err),
                                 err.status)
            except DomainError as err:
                status = show_domain_error(form, err)
            else:
                db.session.commit()
                # The link is spent: the answer is this page, not a redirect back to it.
                return _no_store(render_template("sessions/walk_in_link.html", refused=None,
                                                 meeting=meeting, done=True,
                                                 stored=result.consent_recorded))
        else:
            status = 422
    return _no_store(render_template(
        "sessions/walk_in_link.html", refused=None, done=False, meeting=meeting, form=form,
        questions=questions, action=url_for("sessions.walk_in_demographics", token=token),
    ), status)


# The service's field names -> the form's (prefixed: unique ids on the session page).
TURN_FIELDS = {"participant_id": "turn_participant", "started_at": "turn_start",
               "duration": "turn_minutes"}


@bp.post("/manage/sessions/<int:meeting_id>/speaking-turns")
@login_required
def record_turn(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    # Whoever may check people in may say who had the floor.
    _require(permissions.can_check_in(current_user, meeting))
    form = SpeakingTurnForm()
    if not form.validate_on_submit():
        return _render_manage(meeting, status=422, turn_form=form)
    now = utcnow()
    started_at = local_to_utc(form.turn_start.data, town_zone())
    ended_at = started_at + timedelta(seconds=form.duration_seconds())
    try:
        participant = speaking.get_participant(form.turn_participant.data)
        turn = speaking.record_turn(meeting, participant, started_at, ended_at,
                                    by=current_user, now=now)
    except DomainError as err:
        err.field = TURN_FIELDS.get(err.field or "", err.field)
        return _refused(meeting, err, turn_form=form)
    seconds = speaking.turn_seconds(turn)
    name = participant.name
    db.session.commit()
    flash(_("Speaking turn of %(name)s recorded (%(duration)s).", name=name,
            duration=speaking_duration(seconds)), "success")
    return _back_to_manage(meeting, "speaking")


@bp.post("/manage/sessions/<int:meeting_id>/speaking-turns/delete")
@login_required
def delete_turn(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_check_in(current_user, meeting))
    form = DeleteSpeakingTurnForm()
    if not form.validate_on_submit():
        return _render_manage(meeting, status=422,
                              error=_("Choose a speaking turn to delete."))
    try:
        turn = speaking.get_turn(meeting, form.turn_id.data)
        name = turn.participant.name
        speaking.delete_turn(meeting, turn, by=current_user, now=utcnow())
    except DomainError as err:
        return _refused(meeting, err)
    db.session.commit()
    flash(_("The speaking turn of %(name)s is deleted.", name=name), "success")
    return _back_to_manage(meeting, "speaking")


@bp.post("/manage/sessions/<int:meeting_id>/close")
@login_required
def close(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_manage_sessions(current_user, meeting.process))
    form = CloseForm()
    if not form.validate_on_submit():
        return _render_manage(meeting, status=422, close_form=form)
    try:
        services.close_meeting(meeting, form.minutes.data, by=current_user, now=utcnow())
    except DomainError as err:
        return _refused(meeting, err, close_form=form)
    db.session.commit()
    flash(_("The session is closed and its minutes are published."), "success")
    return redirect(url_for("sessions.manage", meeting_id=meeting.id), 303)


# ---------------------------------------------------------------- staff: paper sign-in sheets

# The signed sheet travels back in several hidden fields: each stays under the form parser's
# per-field memory limit (MAX_FORM_MEMORY_SIZE) however large the accepted sheet is.
SIGNED_CHUNK = 100_000


class PaperSheetForm(FlaskForm):
    sheet = FileField(_l("Sign-in sheet (CSV file)"),
                      validators=[FileRequired(message=_l("Choose the CSV file of the sheet."))])


class PaperSheetConfirmForm(FlaskForm):
    """Only the CSRF token: the sheet itself is the signed payload."""


def _paper_sheet_page(meeting: Meeting, form: PaperSheetForm, *, status: int = 200,
                      refusal: DomainError | None = None, message: str | None = None):
    errors = getattr(refusal, "errors", None)
    return render_template(
        "sessions/paper_sheet.html",
        meeting=meeting,
        form=form,
        message=message or (refusal.message if refusal is not None else None),
        errors=errors or [],
        error_total=getattr(refusal, "total", 0),
        strata=sheets.strata_of(meeting),
        labels=labels_of(meeting.process_id),
        dimensions=sheets.DIMENSION_COLUMNS,
        prefer_not_to_say=sheets.PREFER_NOT_TO_SAY,
        max_rows=sheets.MAX_ROWS,
        unavailable=_paper_sheet_unavailable(meeting),
    ), status


def _paper_sheet_unavailable(meeting: Meeting) -> str | None:
    try:
        sheets.check_meeting(meeting, utcnow())
    except DomainError as err:
        return err.message
    return None


@bp.route("/manage/sessions/<int:meeting_id>/paper-sheet", methods=["GET", "POST"])
@login_required
def paper_sheet(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_check_in(current_user, meeting))
    if request.method == "GET":
        return _paper_sheet_page(meeting, PaperSheetForm(formdata=None))
    form = PaperSheetForm()
    if not form.validate_on_submit():
        return _paper_sheet_page(meeting, form, status=422)
    now = utcnow()
    try:
        text = sheets.decode_sheet(form.sheet.data.read(sheets.MAX_BYTES + 1))
        plan = sheets.plan_sheet(meeting, text, now=now)
    except DomainError as err:
        db.session.rollback()
        return _paper_sheet_page(meeting, form, status=err.status, refusal=err)
    token = sheets.sign_sheet(text, meeting=meeting, by=current_user,
                              secret_key=current_app.config["SECRET_KEY"])
    return render_template(
        "sessions/paper_sheet_preview.html",
        meeting=meeting,
        plan=plan,
        labels=labels_of(meeting.process_id),
        groups=[
            ("matched", _("People already known to the platform"),
             [r for r in plan.rows if r.action == sheets.RowAction.MATCHED]),
            ("new", _("New walk-in participants to create"),
             [r for r in plan.rows if r.action == sheets.RowAction.NEW]),
            ("skipped", _("Already checked in: skipped"),
             [r for r in plan.rows if r.action == sheets.RowAction.SKIPPED]),
        ],
        chunks=[token[i:i + SIGNED_CHUNK] for i in range(0, len(token), SIGNED_CHUNK)],
        confirm_form=PaperSheetConfirmForm(formdata=None),
    )


@bp.post("/manage/sessions/<int:meeting_id>/paper-sheet/confirm")
@login_required
def paper_sheet_confirm(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_check_in(current_user, meeting))
    if not PaperSheetConfirmForm().validate_on_submit():
        abort(400)
    text = sheets.unsign_sheet("".join(request.form.getlist("sheet")), meeting=meeting,
                               by=current_user, secret_key=current_app.config["SECRET_KEY"])
    now = utcnow()
    try:
        # Checked again: people may have been checked in since the preview.
        plan = sheets.plan_sheet(meeting, text, now=now)
    except DomainError as err:
        db.session.rollback()
        return _paper_sheet_page(
            meeting, PaperSheetForm(formdata=None), status=err.status, refusal=err,
            message=_("The sheet no longer fits what is stored (%(reason)s): nothing was "
                      "stored.", reason=err.message))
    counts = sheets.apply_sheet(plan, by=current_user, now=now)
    db.session.commit()
    flash(_("Sign-in sheet stored: %(attendances)s attendances added (%(new)s new walk-in "
            "participants), %(skipped)s already checked in.",
            attendances=counts["attendances"], new=counts["new"], skipped=counts["skipped"]),
          "success")
    return redirect(url_for("sessions.manage", meeting_id=meeting.id, _anchor="attendance"), 303)
