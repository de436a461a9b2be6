"""The project's exceptions. The CLI prints `UserError`s as one line and exits with code 2."""

from __future__ import annotations


class R1TrackError(Exception):
    """Base class of errors raised on purpose by r1track, with a message meant for a person."""


class UserError(R1TrackError):
    """Bad input from the user: a missing file, an invalid box, a path that is not a model."""


class BackendError(R1TrackError):
    """The model backend could not answer (server down after retries, generation failed)."""


def shorten(text: str, limit: int = 80) -> str:
    """`repr(text)`, cut to about `limit` characters with an ellipsis: error messages echo what
    a user typed, and a pasted page of text must not become a page of error."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"
