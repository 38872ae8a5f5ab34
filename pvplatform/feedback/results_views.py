"""The perceived public value results page (value x group matrix, response rates, pulses)."""

from pvplatform.feedback.blueprint import bp  # noqa: F401
