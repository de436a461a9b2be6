"""Models shipped with the package, and the tracking settings a checkpoint carries.

A checkpoint directory may hold `r1track_tracker.json` with the settings it was trained for
(`crop_size`, `context`, `prompt`, `think`, `coord_tint`, `scale_lr`, `views`); the command
line uses them unless a flag overrides.
Bundled models are addressed by name (`--model nano`) and load offline from the package.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from r1track.errors import UserError

SETTINGS_FILE = "r1track_tracker.json"
SETTINGS_KEYS = ("crop_size", "context", "prompt", "think", "coord_tint", "scale_lr", "views")
BUNDLED = {"nano": Path(__file__).resolve().parent / "nano"}


def resolve_model(name: str) -> str:
    """A bundled model's directory for its name; any other string is returned unchanged."""
    if name in BUNDLED:
        path = BUNDLED[name]
        if not (path / "config.json").is_file():
            raise UserError(f"the bundled model {name!r} is not in this build of r1track yet")
        return str(path)
    return name


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


# What the tracker needs from a checkpoint directory (no optimizer state, no training logs).
CHECKPOINT_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
)


def bundle_checkpoint(src: str | Path, out: str | Path, **settings) -> Path:
    """Copy the files a tracker loads from a trained checkpoint to `out`, with its settings.

    `out` is replaced as a whole when it is an earlier bundle (it holds `r1track_tracker.json`);
    any other non-empty directory is refused. Used by `make nano` to ship the nano model.
    """
    src, out = Path(src), Path(out)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (src / name).is_file():
            raise UserError(f"{src}: not a full checkpoint (no {name})")
    if not any((src / n).is_file() for n in ("preprocessor_config.json", "processor_config.json")):
        raise UserError(f"{src}: no image processor config")
    if out.resolve() == src.resolve():
        raise UserError(f"{out}: the output must differ from the checkpoint")
    if out.is_dir() and any(out.iterdir()) and not (out / SETTINGS_FILE).is_file():
        raise UserError(f"{out}: exists and is not an earlier bundle; refusing to replace it")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in CHECKPOINT_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)
    write_settings(out, **settings)
    return out
