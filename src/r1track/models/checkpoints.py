"""Finding a checkpoint and checking it before it is loaded: a bundled model's name or a path
or Hub id to the directory to load (`resolve_checkpoint`), a LoRA adapter's base model
(`adapter_base`), damaged weight files (`check_weights`), and the dtype to load in. The `hf`
backend and the trainers both load through these, so they accept and refuse the same models."""

from __future__ import annotations

import json
import struct
from pathlib import Path, PurePath

from r1track.errors import UserError, shorten

BUNDLED = {"nano": Path(__file__).resolve().parent / "nano"}
ADAPTER_CONFIG = "adapter_config.json"  # a LoRA adapter saved by `r1track train`


def resolve_model(name: str) -> str:
    """A bundled model's directory for its name; any other string is returned unchanged."""
    if name in BUNDLED:
        path = BUNDLED[name]
        if not (path / "config.json").is_file():
            raise UserError(f"the bundled model {name!r} is not in this build of r1track yet")
        return str(path)
    return name


def model_identity(model: str) -> str:
    """How an evaluation run records a model: a bundled one by its name (`nano`), so that a run
    resumes after the package is reinstalled elsewhere (the weights digest still guards the
    weights); its folder in any install (`.../r1track/models/nano`) counts as the name. Any other
    model is recorded as given."""
    path = PurePath(model)
    if (
        path.name in BUNDLED
        and path.parent.name == "models"
        and path.parent.parent.name == "r1track"
    ):
        return path.name
    return model


def resolve_checkpoint(model: str) -> str:
    """Check that `model` names a checkpoint: a directory with config.json, or a Hub id
    (`org/name`). Raises `UserError` with the reason otherwise."""
    model = resolve_model(model)
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {shorten(model)} is a file, not a checkpoint directory")
        if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
            raise UserError(
                f"model {shorten(model)} is not a checkpoint directory (no config.json in it)"
            )
        return str(path)
    looks_like_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise UserError(f"model {shorten(model)}: no such directory")
    return model


def adapter_base(path: str | Path) -> str | None:
    """The base checkpoint of a LoRA adapter directory (one with `adapter_config.json` and no
    config.json), resolved by `resolve_checkpoint`; None for any other checkpoint. A damaged
    adapter_config.json raises `ValueError` (its JSON error)."""
    adapter = Path(path) / ADAPTER_CONFIG
    if not adapter.is_file() or (Path(path) / "config.json").is_file():
        return None
    return resolve_checkpoint(json.loads(adapter.read_text())["base_model_name_or_path"])


def check_weights(path: str | Path) -> None:
    """Refuse a checkpoint directory whose safetensors files are cut short or damaged, naming
    the file (transformers' own error names neither the file nor the cause)."""
    for file in sorted(Path(path).glob("*.safetensors")):
        size = file.stat().st_size
        try:
            with file.open("rb") as f:
                (header_size,) = struct.unpack("<Q", f.read(8))
                if 8 + header_size > size:
                    raise ValueError
                header = json.loads(f.read(header_size))
            end = max(
                (t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"),
                default=0,
            )
        except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise UserError(f"{file}: not a readable safetensors file (damaged?)") from None
        if 8 + header_size + end > size:
            raise UserError(
                f"{file}: truncated ({size} bytes of {8 + header_size + end}); copy it again"
            )


def choose_dtype(dtype: str, cuda: bool) -> str:
    """The torch dtype name to load weights in: `dtype` itself, or for `auto` bfloat16 on CUDA
    (`cuda`) and float32 elsewhere."""
    if dtype == "auto":
        return "bfloat16" if cuda else "float32"
    return dtype
