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
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path, PurePath

from r1track.errors import UserError

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
BUNDLED = {"nano": Path(__file__).resolve().parent / "nano"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
DIGEST_FULL_BYTES = 1 << 30
DIGEST_WINDOWS = 64
DIGEST_WINDOW = 1 << 20


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


# Released R1-Track checkpoints (docs/tracking.md; reference doc, section 1) and what they trained
# on: task text, think mode, and the layout of their training (`reference-train`: EasyR1 for the
# GRPO ones, LLaMA-Factory's `<image>` markers for the SFT adapters). The published AO was
# measured with `reference-eval`; docs/fidelity.md says why the default is the training layout.
KNOWN_CHECKPOINTS: dict[str, dict] = {
    "WangBiao/R1-Track-GRPO-wo-Think-100k": {"prompt": "100k", "think": False},
    "WangBiao/R1-Track-GRPO-wo-Think-5k": {"prompt": "5k", "think": False},
    "WangBiao/R1-Track-GRPO-5k": {"prompt": "5k", "think": True},
    "WangBiao/R1-Track-SFT-5k-lora": {"prompt": "5k", "think": False},
    "WangBiao/R1-Track-SFT-100k-lora": {"prompt": "100k", "think": False},
}
KNOWN_LAYOUT = "reference-train"


def known_checkpoint(model: str) -> dict | None:
    """The settings of a released checkpoint that `model` names: its Hub id (any case), a Hub
    cache snapshot of it (`.../models--WangBiao--NAME/snapshots/HASH`), or a directory named
    after it (`.../NAME` or `.../WangBiao/NAME`, as `hf download --local-dir` makes). None for
    any other model. Only the path is read: the released files do not name themselves."""
    by_name = {repo.lower(): repo for repo in KNOWN_CHECKPOINTS}
    path = PurePath(str(model).rstrip("/\\"))
    parts = [p.lower() for p in path.parts]
    candidates = ["/".join(parts[-2:]), *("WangBiao/" + p for p in parts[-1:])]
    candidates += [p.replace("models--", "", 1).replace("--", "/") for p in parts if "--" in p]
    for candidate in candidates:
        repo = by_name.get(candidate.lower())
        if repo is not None:
            return {**KNOWN_CHECKPOINTS[repo], "layout": KNOWN_LAYOUT}
    return None


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


def weights_digest(model: str) -> str | None:
    """A short digest of a local checkpoint directory's weight and config files, so that an
    evaluation run can tell a retrained (or re-bundled) model at the same path from the one it
    started with. None when `model` is not a local directory (a hub id, a served model's name).
    Files up to 1 GiB are hashed whole; larger ones by their size and 64 windows of 1 MiB spread
    over them (catches a retrained or swapped checkpoint, not every edit to a few tensors)."""
    path = Path(model)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if not file.is_file() or file.suffix not in (*WEIGHT_SUFFIXES, ".json"):
            continue
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}\n".encode())
        with file.open("rb") as f:
            if size <= DIGEST_FULL_BYTES:
                for block in iter(lambda: f.read(1 << 24), b""):
                    digest.update(block)
                continue
            step = (size - DIGEST_WINDOW) // (DIGEST_WINDOWS - 1)
            for i in range(DIGEST_WINDOWS):
                f.seek(i * step)
                digest.update(f.read(DIGEST_WINDOW))
    return digest.hexdigest()[:16]
