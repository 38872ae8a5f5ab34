"""The details of an audit row as one sentence in plain words.

Rows keep their details as JSON (codes, ids, counts, ISO dates): what evaluators and the filter
match on. Staff read them here: each key by a name, values in words (yes or no, dates in the
reader's language, lists joined, a change written as before → after), roles, states and waves
by their names, and dimension and category codes by the process's labels in the reader's
language (`participation.labels`), loaded for the whole page in one statement. A key without a
name (a newer one) is shown with its underscores as spaces rather than hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import format_date, format_decimal, format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pvplatform.moderation.audit_labels import target_label
from pvplatform.participation.labels import NO_LABELS, ProcessLabels, Words, labels_for, pick

KEY_NAMES: dict[str, Any] = {
    "account": _l("login account"),
    "after": _l("after"),
    "answers": _l("answers"),
    "asked": _l("people asked"),
    "attendance": _l("attendees"),
    "attendances": _l("attendances"),
    "attributes_deleted": _l("demographic answers deleted"),
    "before": _l("before"),
    "categories": _l("categories"),
    "category": _l("category"),
    "changed": _l("changed"),
    "closed_at": _l("closed"),
    "code": _l("code"),
    "description": _l("description"),
    "comments_open": _l("comments open"),
    "consent": _l("consent"),
    "consents_withdrawn": _l("consents withdrawn"),
    "dimension": _l("question"),
    "dimensions": _l("questions"),
    "drafts_detached": _l("drafts detached"),
    "ended_at": _l("ended"),
    "ends_on": _l("ends"),
    "expires_at": _l("expires"),
    "field": _l("field"),
    "file": _l("file"),
    "goal": _l("SDG goal"),
    "goals": _l("SDG goals"),
    "key": _l("concerns"),
    "kind": _l("kind"),
    "matched": _l("people matched"),
    "name": _l("name"),
    "name_en": _l("name (English)"),
    "new": _l("new people"),
    "note": _l("note"),
    "offered": _l("people offered the survey"),
    "order": _l("order"),
    "position": _l("position"),
    "prefix": _l("token prefix"),
    "progress": _l("progress"),
    "proposals_open": _l("proposals open"),
    "purpose": _l("purpose"),
    "reason": _l("reason"),
    "registrations_cancelled": _l("registrations cancelled"),
    "reminded": _l("people reminded"),
    "reports_resolved": _l("reports resolved"),
    "requests": _l("questions sent"),
    "role": _l("role"),
    "room_connection": _l("room connection"),
    "rows": _l("rows"),
    "scope": _l("access"),
    "severity": _l("severity"),
    "share": _l("population share"),
    "skipped": _l("rows skipped"),
    "snapshots_deleted": _l("attendance copies deleted"),
    "source": _l("source"),
    "standard_phases": _l("standard phases"),
    "started_at": _l("started"),
    "starts_at": _l("starts"),
    "starts_on": _l("starts"),
    "state": _l("state"),
    "statement": _l("statement"),
    "statement_en": _l("statement (English)"),
    "tables": _l("tables"),
    "title": _l("title"),
    "to": _l("to"),
    "value": _l("public value"),
    "values": _l("public values"),
    "via": _l("through"),
    "votes_open": _l("votes open"),
    "wave": _l("survey"),
    "with_demographics": _l("with demographic answers"),
}

# Keys that hold the id of something: "session no. 12".
ID_NAMES: dict[str, Any] = {
    "answer_id": _l("answer"), "association_id": _l("association"),
    "evaluator_id": _l("evaluator"), "moderation_action_id": _l("moderation action"),
    "participant_id": _l("participant"), "recorded_by_id": _l("recorded by"),
    "request_id": _l("request"), "session": _l("session"), "session_id": _l("session"),
    "turn_id": _l("speaking turn"), "update_id": _l("implementation update"),
}
DATE_KEYS = frozenset({"starts_on", "ends_on"})
INSTANT_KEYS = frozenset({"closed_at", "ended_at", "expires_at", "started_at", "starts_at"})
# Words that go with the names of the dimension or category in a delete's row.
NAMING_KEYS = frozenset({"label", "label_en"})
CHANGES = (("from", "to"), ("before", "after"))
ROLE_ACTIONS = frozenset({"user.role_change", "association.member_approve",
                          "association.member_add", "association.member_remove"})
SEP = "; "


def _value_words() -> dict[str, Mapping[str, Any]]:
    """Names of coded values, per key (imported here: these modules import much else)."""
    from pvplatform.auth.forms import role_label
    from pvplatform.auth.models import Role
    from pvplatform.evaluation.workspace import SCOPE_LABELS
    from pvplatform.indicators.thresholds import THRESHOLD_SPECS
    from pvplatform.processes.forms import PHASE_KIND_LABELS
    from pvplatform.proposals.forms import STATE_LABELS

    waves = {"baseline": _l("baseline survey"), "final": _l("final survey"),
             "session": _l("session pulse")}
    return {
        "via": {"registration": _l("sign-up"), "self": _l("the member themselves"),
                "staff": _l("staff"), "privacy.export": _l("download of their own data")},
        "reason": {"own_page": _l("their own page")},
        "role": {str(r.value): role_label(r) for r in Role},
        "scope": {str(k): v for k, v in SCOPE_LABELS.items()},
        "kind": {str(k): v for k, v in PHASE_KIND_LABELS.items()},
        "state": {str(k): v for k, v in STATE_LABELS.items()},
        "previous_state": {str(k): v for k, v in STATE_LABELS.items()},
        "severity": {"alert": _l("alert"), "warning": _l("warning")},
        "wave": waves,
        "source": {"csv": _l("CSV file"), "form": _l("typed in the form")},
        "threshold": {spec.name: spec.label for spec in THRESHOLD_SPECS},
    }


class _Sentence:
    """One row's details, written with the labels of its process."""

    def __init__(self, action: str, details: Mapping[str, Any], labels: ProcessLabels,
                 words: Mapping[str, Mapping[str, Any]]) -> None:
        self.action = action
        self.details = details
        self.labels = labels
        self.words = words

    # ------------------------------------------------------------ names of things

    def _named(self, found: Words | None, code: str, deleted: bool) -> str:
        """A dimension's or category's label; once deleted, the names its audit row kept."""
        if found is None and deleted:
            found = Words(self.details.get("label") or None, self.details.get("label_en") or None)
        return pick(found, code)

    def dimension(self, code: str) -> str:
        return self._named(self.labels.dimensions.get(code), code,
                           self.action == "dimension.delete")

    def category(self, dimension: str, code: str) -> str:
        return self._named(self.labels.categories.get((dimension, code)), code,
                           self.action == "stratum.delete")

    # ------------------------------------------------------------ values

    def value(self, key: str, value: Any) -> str:
        if value is None or value == "":
            return _("none")
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, int | float):
            return format_number(value) if isinstance(value, int) else format_decimal(value)
        if isinstance(value, list):
            return ", ".join(self.value(key, item) for item in value) or _("none")
        if isinstance(value, dict):
            return ", ".join(_pair(self.name(k), self.value(k, v)) for k, v in value.items())
        text = str(value)
        if key in self.words and text in self.words[key]:
            return str(self.words[key][text])
        if key in DATE_KEYS or key in INSTANT_KEYS:
            return _when(text)
        return text

    def name(self, key: str) -> str:
        if key in self.words["threshold"]:
            return str(self.words["threshold"][key])
        if key in ID_NAMES:
            return str(ID_NAMES[key])
        name = KEY_NAMES.get(key)
        return str(name) if name is not None else key.replace("_", " ")

    # ------------------------------------------------------------ special keys

    def special(self, key: str, value: Any) -> str | None:
        """The words of a key that is not written as name: value, None for the others."""
        action = self.action
        if key == "code" and action.startswith("dimension."):
            return _pair(self.name("dimension"), self.dimension(str(value)))
        if key == "dimension" and action.startswith("stratum."):
            return _pair(self.name("dimension"), self.dimension(str(value)))
        if key == "category" and action.startswith("stratum."):
            dimension = str(self.details.get("dimension") or "")
            return _pair(self.name("category"), self.category(dimension, str(value)))
        if key == "dimensions" and isinstance(value, list):
            return _pair(self.name(key), _listed(self.dimension(str(code)) for code in value))
        if key == "code" and action == "flag.acknowledge":
            from pvplatform.indicators.messages import flag_title

            return _pair(_("flag"), flag_title(str(value)))
        if key == "key" and action == "flag.acknowledge":
            return _pair(self.name(key), self.flag_keys(str(value)))
        if key in ID_NAMES and isinstance(value, int) and not isinstance(value, bool):
            return _("%(name)s no. %(id)s", name=self.name(key), id=value)
        if key in ("changed", "field"):
            fields = value if isinstance(value, list) else [value]
            return _pair(self.name(key), _listed(self.name(str(k)) for k in fields))
        if key == "tables" and isinstance(value, list):
            return _pair(self.name(key), _listed(str(t).replace("_", " ") for t in value))
        return None

    def flag_keys(self, raw: str) -> str:
        """A flag's keys (`store.flag_key`) in words: its category, group, value, session."""
        try:
            dimension, category, group, value, session, association = json.loads(raw)
        except (ValueError, TypeError):
            return raw
        parts = []
        if dimension:
            parts.append(_pair(self.dimension(dimension), self.category(dimension, category))
                         if category else self.dimension(dimension))
        if group:
            from pvplatform.indicators.dashboard import group_word

            parts.append(group_word(group))
        if value:
            parts.append(str(value))
        if session is not None:
            parts.append(target_label("session", session))
        if association is not None:
            parts.append(target_label("association", association))
        return ", ".join(parts) or _("the whole process")

    def change(self, before: Any, after: Any, key: str) -> str:
        """A change: each key that moved as name: old → new; a single value as old → new."""
        if isinstance(before, dict) and isinstance(after, dict):
            moved = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
            return SEP.join(_pair(self.name(k), _moved(self.value(k, before.get(k)),
                                                       self.value(k, after.get(k))))
                            for k in moved) or _("no change")
        value_key = "role" if self.action in ROLE_ACTIONS else key
        return _moved(self.value(value_key, before), self.value(value_key, after))

    # ------------------------------------------------------------ the sentence

    def text(self) -> str:
        details = self.details
        parts: list[str] = []
        done: set[str] = set(NAMING_KEYS) if self.action.endswith(".delete") else set()
        for old, new in CHANGES:
            if old in details and new in details:
                name = self.name("role") if self.action in ROLE_ACTIONS else _("change")
                parts.append(_pair(name, self.change(details[old], details[new], old)))
                done |= {old, new}
        for key, value in details.items():
            if key in done:
                continue
            special = self.special(key, value)
            parts.append(special if special is not None
                         else _pair(self.name(key), self.value(key, value)))
        return _sentence(parts)


def _pair(name: str, value: str) -> str:
    # A msgid of its own: French writes a space before the colon.
    return _("%(name)s: %(value)s", name=name, value=value)


def _moved(before: str, after: str) -> str:
    return _("%(before)s → %(after)s", before=before, after=after)


def _listed(items: Iterable[str]) -> str:
    return ", ".join(items) or _("none")


def _when(text: str) -> str:
    """An ISO date or instant as the pages print them."""
    try:
        if len(text) == 10:
            return format_date(date.fromisoformat(text), "medium")
        instant = datetime.fromisoformat(text)
    except ValueError:
        return text
    from flask import current_app

    return current_app.jinja_env.filters["datetime"](instant)


def _sentence(parts: list[str]) -> str:
    text = SEP.join(p for p in parts if p)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def details_sentence(action: str, details: Any, labels: ProcessLabels = NO_LABELS,
                     words: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The details of one row in words ("" when it has none)."""
    if not details:
        return ""
    words = words if words is not None else _value_words()
    if isinstance(details, Mapping):
        return _Sentence(action, details, labels, words).text()
    if isinstance(details, list):
        return _sentence([", ".join(str(item) for item in details)])
    return str(details)


def sentences_for(rows: Iterable[Any]) -> Callable[[Any], str]:
    """A function giving each row of a page its sentence, with the labels of every process the
    page's rows belong to loaded in one statement."""
    rows = list(rows)
    labels = labels_for(getattr(row, "process_id", None) for row in rows)
    words = _value_words()

    def sentence(row: Any) -> str:
        return details_sentence(row.action, row.details,
                                labels.get(row.process_id, NO_LABELS), words)

    return sentence
