"""Models shipped with the package, and the tracking settings a checkpoint carries.

A checkpoint directory may hold `r1track_tracker.json` with the settings it was trained for
(`crop_size`, `context`, `prompt`, `think`, `layout`, `coord_tint`, `scale_lr`, `aspect_lr`,
`views`, `resize`, `image_format`); the tracker uses them unless a flag (or an override to
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
(`make nano`); `settings.py`, the settings file, read and written.
"""

from __future__ import annotations

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
from r1track.models.settings import SETTINGS_FILE, SETTINGS_KEYS, read_settings, write_settings

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
