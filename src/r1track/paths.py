"""Up-front checks of output paths: a command refuses, in one line, an output it could not write
before it loads a model or writes anything (instead of a traceback half-way through)."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from r1track.errors import UserError


def _nearest_existing(path: Path) -> Path:
    """The path itself or its closest ancestor that exists (as written: relative stays so)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")  # pragma: no cover - the root or "." always exists


def check_can_create(path: str | Path, flag: str) -> Path:
    """Refuse `path` when it could not be written: an ancestor that is a file, or the directory
    itself (when it is one) or its closest existing ancestor not writable (permissions, a
    read-only file system)."""
    path = Path(path)
    base = path if path.is_dir() else _nearest_existing(path.parent)
    if not base.is_dir():
        raise UserError(f"{flag} {path}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot write in {base} (permission denied or read-only)")
    return path


def check_out_dir(path: str | Path, flag: str) -> Path:
    """An output directory that exists as a directory, or that can be made; refused in one line
    naming `flag` otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: exists and is not a directory")
    return check_can_create(path, flag)


def check_out_file(
    path: str | Path,
    flag: str,
    suffixes: Collection[str] = (),
    parent_must_exist: bool = False,
) -> Path:
    """An output file path that can be written: not a directory, with one of `suffixes` (when
    given, lower case with the dot), in a folder that exists (`parent_must_exist`) or can be
    made."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(
            f"{flag} {path}: expected a file name ending in {', '.join(sorted(suffixes))}"
        )
    if parent_must_exist and not path.parent.is_dir():
        raise UserError(f"{flag} {path}: no such folder {path.parent}")
    return check_can_create(path, flag)
