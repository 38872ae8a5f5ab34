"""Staff pages: the public values catalogue, survey waves, session pulses and reminders."""

from pvplatform.feedback.blueprint import bp  # noqa: F401
