"""The project's exceptions. The CLI prints `UserError`s as one line and exits with code 2."""

from __future__ import annotations

import math


class R1TrackError(Exception):
    """Base class of errors raised on purpose by r1track, with a message meant for a person."""


class UserError(R1TrackError):
    """Bad input from the user: a missing file, an invalid box, a path that is not a model."""


class ConfigError(UserError):
    """A config value out of range: `field` names the config field (or the function's argument)
    and `rule` says what is wrong with it, so that the command line can name the flag that set
    the value instead of the field. The config dataclasses raise it from `__post_init__`, so
    library callers get the checks the command line gets."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field.replace('_', ' ')} {rule}")
        self.field = field
        self.rule = rule


def check_at_least(field: str, value, low) -> None:
    """A `ConfigError` of `field` unless `low <= value` (a finite number)."""
    if not low <= value < math.inf:
        raise ConfigError(field, f"must be at least {low}, got {value}")


def check_in_range(field: str, value, low, high) -> None:
    """A `ConfigError` of `field` unless `low <= value < high`."""
    if not low <= value < high:
        raise ConfigError(field, f"must be in [{low}, {high}), got {value}")


def check_share(field: str, value) -> None:
    """A `ConfigError` of `field` unless `0 <= value <= 1` (a share of samples or sequences)."""
    if not 0 <= value <= 1:
        raise ConfigError(field, f"must be in [0, 1], got {value}")


def check_choice(field: str, value, choices) -> None:
    """A `ConfigError` of `field` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(field, f"{value!r} is unknown; expected one of {', '.join(choices)}")


class BackendError(R1TrackError):
    """The model backend could not answer (server down after retries, generation failed)."""


def shorten(text: str, limit: int = 80) -> str:
    """`repr(text)`, cut to about `limit` characters with an ellipsis: error messages echo what
    a user typed, and a pasted page of text must not become a page of error."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"
