"""Models shipped with the package, and the tracking settings a checkpoint carries.

A checkpoint directory may hold `r1track_tracker.json` with the settings it was trained for
(`crop_size`, `context`, `prompt`, `think`, `layout`, `coord_tint`, `scale_lr`, `views`, `resize`,
`image_format`); the tracker uses them unless a flag (or an override to
`TrackerConfig.for_checkpoint`) says otherwise, and R1-Track's defaults for those it lacks (a
checkpoint without the file, such as a released R1-Track one, gets `resize` cv2 and
`image_format` jpeg, as it was trained). A file without `layout` means `r1track` (the only layout
before layouts could be chosen).
Bundled models are addressed by name (`--model nano`) and load offline from the package.
The released R1-Track checkpoints carry no such file: `KNOWN_CHECKPOINTS` holds their settings,
found by Hub id or from a local copy's path (`known_checkpoint`).

This package is the one home of what r1track knows about checkpoints (the backends, trainers
and commands import it from `r1track.models`): `checkpoints.py`, a name or path to the directory
to load, a LoRA adapter's base model, damaged weights, the dtype; `known.py`, the released
checkpoints; `digest.py`, weights digests (eval runs); `bundle.py`, bundling a trained checkpoint
(`make nano`). The settings file is read and written here.
"""

from __future__ import annotations

import json
from pathlib import Path

from r1track.errors import UserError
from r1track.models.bundle import bundle_checkpoint
from r1track.models.checkpoints import (
    ADAPTER_CONFIG,
    BUNDLED,
    adapter_base,
    check_weights,
    choose_dtype,
    model_identity,
    resolve_checkpoint,
    resolve_model,
)
from r1track.models.digest import weights_digest
from r1track.models.known import KNOWN_CHECKPOINTS, known_checkpoint

__all__ = [
    "ADAPTER_CONFIG",
    "BUNDLED",
    "KNOWN_CHECKPOINTS",
    "SETTINGS_FILE",
    "SETTINGS_KEYS",
    "adapter_base",
    "bundle_checkpoint",
    "check_weights",
    "choose_dtype",
    "known_checkpoint",
    "model_identity",
    "read_settings",
    "resolve_checkpoint",
    "resolve_model",
    "weights_digest",
    "write_settings",
]

SETTINGS_FILE = "r1track_tracker.json"
SETTINGS_KEYS = (
    "crop_size",
    "context",
    "prompt",
    "think",
    "layout",
    "coord_tint",
    "scale_lr",
    "views",
    "resize",
    "image_format",
)


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
