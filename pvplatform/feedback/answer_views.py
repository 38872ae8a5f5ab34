"""Answering surveys: the baseline and final waves, session pulses, walk-ins' links, my surveys."""

from pvplatform.feedback.blueprint import bp  # noqa: F401
