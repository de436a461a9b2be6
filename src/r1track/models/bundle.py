"""Bundling: the files a tracker loads, copied from a trained checkpoint with its settings
(`make nano` ships the nano model this way)."""

from __future__ import annotations

import shutil
from pathlib import Path

from r1track.errors import UserError
from r1track.models.settings import SETTINGS_FILE, write_settings

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
