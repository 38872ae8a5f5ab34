"""Flag thresholds: the contract's defaults (INDICATORS.md), which staff may change per process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    # Representation: only dimensions with enough known external attendees, categories with
    # enough expected attendees (A * share), so that one person more or less raises nothing.
    representation_min_attendees: int = 20
    representation_min_expected: float = 5.0
    under_representation_alert: float = 0.5
    under_representation_warning: float = 0.8
    over_representation_alert: float = 2.0
    over_representation_warning: float = 1.25
    no_show_min_registrations: int = 10
    no_show_warning: float = 0.30
    retention_min_attendees: int = 10
    retention_alert: float = 0.3
    retention_warning: float = 0.5
    voice_min_contributors: int = 10
    voice_top10_warning: float = 0.5
    official_min_contributions: int = 10
    official_share_warning: float = 0.5
    unanswered_alert_days: int = 90
    unanswered_warning_days: int = 30
    absent_association_sessions: int = 2
    duality_min_n: int = 5
    duality_min_delta: float = 0.5
    eroding_delta: float = -0.5
    eroding_min_n: int = 5


DEFAULTS = Thresholds()
