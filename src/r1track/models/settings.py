"""A checkpoint's tracking settings file, `r1track_tracker.json`: read and written here; its keys
are the settings of `r1track.tracking.settings` (`SETTINGS_KEYS`, made from `TrackerConfig`)."""

from __future__ import annotations

import json
from pathlib import Path

from r1track.errors import UserError
from r1track.tracking.settings import SETTINGS_KEYS

__all__ = ["SETTINGS_FILE", "SETTINGS_KEYS", "read_settings", "write_settings"]

SETTINGS_FILE = "r1track_tracker.json"


def read_settings(model: str) -> dict:
    """The tracking settings a checkpoint directory carries ({} when it has none)."""
    path = Path(model) / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from exc
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise UserError(f"{path}: unknown setting {unknown[0]!r}")
    return settings


def write_settings(model_dir: str | Path, **settings) -> Path:
    """Store tracking settings next to a checkpoint's weights."""
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}")
    path = Path(model_dir) / SETTINGS_FILE
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path
