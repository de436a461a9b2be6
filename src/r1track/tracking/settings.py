"""Tracker settings: `TrackerConfig`, the one home of every setting's name, default and help.

A setting is a `TrackerConfig` field whose metadata names its `key`: the command-line flag
(`--crop-size`) and the `r1track_tracker.json` key (`crop_size`) are generated from it
(`SETTINGS`, `SETTINGS_KEYS`), so a new setting is one field. Two fields can share a key:
`context` sets both crop factors. Fields without a key (answer budget, grounding resolution)
are for library callers only.

Which value a setting takes is decided in one place, `choose_settings`: a flag (an override),
else the checkpoint's `r1track_tracker.json`, else what r1track knows of a released checkpoint,
else the field's default (R1-Track's).
"""

from __future__ import annotations

import sys
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np

from r1track.errors import ConfigError, shorten
from r1track.geometry import IMAGE_FORMATS, RESIZE_METHODS
from r1track.prompts import LAYOUTS, MAX_NEW_TOKENS, PROMPT_VARIANTS, Layout, PromptVariant

# Test-time views (TrackerConfig.views): (mirror left-right, mirror top-bottom) of both crops.
VIEW_MIRRORS = ((False, False), (True, False), (False, True), (True, True))


class SettingError(ConfigError):
    """A `TrackerConfig` value out of range (`field`, `rule`): the command line names the flag
    that set it, or the checkpoint's settings file it came from."""


def _meta(help: str, key: str | None = None, choices: tuple = ()) -> dict:
    """A field's metadata: its help, and its flag and settings-file key `key` (the field's name
    when None, `""` for a field that is not a setting)."""
    return {"help": help, "key": key, "choices": choices}


@dataclass(frozen=True)
class TrackerConfig:
    """How crops are cut and which prompt the model gets. Defaults are R1-Track's."""

    crop_size: int = field(
        default=336,
        metadata=_meta(
            "template and search crop side in pixels, a multiple of 28 (Qwen keeps it as is)"
        ),
    )
    template_factor: float = field(
        default=4.0, metadata=_meta("crop side / sqrt(box area), both crops", key="context")
    )
    """Template crop side = ceil(sqrt(w*h) * template_factor) around the first box."""
    search_factor: float = field(
        default=4.0, metadata=_meta("crop side / sqrt(box area), both crops", key="context")
    )
    """Search crop side = ceil(sqrt(w*h) * search_factor) around the last box."""
    prompt: PromptVariant = field(
        default="5k",
        metadata=_meta("task text the checkpoint was trained on", choices=PROMPT_VARIANTS),
    )
    """`5k`, `5k-oneline` or `100k` (R1-Track), `nano` (r1track-nano)."""
    think: bool = field(
        default=False, metadata=_meta("think checkpoints: ask for <think> and <answer>")
    )
    layout: Layout = field(
        default="r1track",
        metadata=_meta(
            "where images and text go in the message, as the checkpoint was trained "
            "(released checkpoints: reference-train; see docs/fidelity.md)",
            choices=LAYOUTS,
        ),
    )
    """`r1track` (images, then the text) is what r1track-nano and checkpoints trained by
    `r1track train` before layouts existed saw; the released R1-Track checkpoints get theirs from
    `r1track.models.KNOWN_CHECKPOINTS` (docs/fidelity.md)."""
    max_new_tokens: int | None = field(
        default=None, metadata=_meta("answer budget; default 64 without thinking, 512 with", key="")
    )
    grounding_max_pixels: int = field(
        default=28 * 28 * 1280,
        metadata=_meta(
            "text init: the first frame is resized to at most this many pixels before grounding"
        ),
    )
    """A checkpoint setting: a model trained to ground (`data build --grounding-rate`) saw frames
    of at most `--grounding-pixels`; r1track-nano's one token per 112 px wants 12544."""
    grounding_windows: int = field(
        default=0,
        metadata=_meta(
            "text init: ask about at most this many windows of the first frame, search crops at "
            "several scales, and take the box the windows agree on, weighed by how unlikely the "
            "model finds the absent answer in each (0: the whole frame in one image)"
        ),
    )
    """A checkpoint setting for models trained to ground in windows (`data build
    --grounding-windows`, r1track-nano): `tracking.redetect.grounding_windows` cuts them at the
    search context, each an ordinary crop with the grounding prompt, asked for its likeliest box
    (`GenerationRequest.box_only`, which needs the `hf` backend)."""
    coord_tint: float = field(
        default=0.0,
        metadata=_meta("blend a coordinate ramp into the images, for checkpoints trained with it"),
    )
    """`geometry.coord_tint`; only for checkpoints trained that way (r1track-nano), 0 (off) for
    R1-Track's."""
    scale_lr: float = field(
        default=1.0,
        metadata=_meta("share of each answer's size change the track takes, 0..1 (1: all of it)"),
    )
    """The new side is `old * (answered / old) ** scale_lr` in log space (the centre always
    follows the answer). 1 takes the answer as is (R1-Track); below 1 damps size drift that
    compounds through the crops, as Siamese trackers do (SiamFC's scale_lr)."""
    aspect_lr: float = field(
        default=1.0,
        metadata=_meta(
            "share of the aspect (width / height) part of the size change that --scale-lr lets"
            " through, 0..1 (1: all of it; 0: the box keeps its aspect)"
        ),
    )
    """The track's log aspect moves `scale_lr * aspect_lr` of the answer's, its log area
    `scale_lr` of it. Below 1 keeps a thin target thin when the answers shrink onto a part of
    it (a pedestrian's head), as Siamese trackers penalise changes of ratio (SiamRPN)."""
    views: int = field(
        default=1,
        metadata=_meta(
            "test-time views per frame, 1-4 (crops as cut, then mirrored); consensus answer"
        ),
    )
    """The crops as cut, mirrored left-right, top-bottom, both (template and search alike). Each
    view's answer is mirrored back and mapped to the frame; the track takes the consensus
    (`geometry.consensus_xyxy`: the mean of the answers that agree with the most agreed-upon
    one), so one view that jumped to a look-alike is outvoted. Costs `views` model calls."""
    resize: str = field(
        default="cv2",
        metadata=_meta(
            "crop resampling: cv2 (OpenCV INTER_LINEAR, as R1-Track) or pil (antialiased)",
            choices=RESIZE_METHODS,
        ),
    )
    """`cv2` is how R1-Track's checkpoints were trained and evaluated; `pil`, Pillow's
    antialiased BILINEAR (r1track-nano, and datasets built with `data build --resize pil`)."""
    image_format: str = field(
        default="jpeg",
        metadata=_meta(
            "images to the model: jpeg (quality 95, as R1-Track) or png (lossless)",
            choices=IMAGE_FORMATS,
        ),
    )
    """`jpeg`: R1-Track's training crops were JPEG files and inference sent JPEG data URLs; the
    `hf` backend gets the decoded JPEG, the `openai` backend sends those bytes. `png`: exactly
    the pixels cut (r1track-nano)."""

    redetect: bool = field(
        default=False,
        metadata=_meta(
            "when an answer is unusable or not confident, search a wider crop, then the whole "
            "frame, before holding the last box"
        ),
    )
    """`tracking/redetect.py`: one batched call per lost frame over the wider crop and at most
    `max_tiles` tiles; the most confident usable answer is taken. Off: today's tracker."""
    redetect_context: float = field(
        default=8.0,
        metadata=_meta("re-detection: context factor of the wider crop around the last box"),
    )
    """Stay within what the checkpoint was trained on: R1-Track's data drew U(2, 8)."""
    redetect_verify: bool = field(
        default=False,
        metadata=_meta(
            "re-detection: ask again about a found box in an ordinary search crop around it; "
            "keep it only if the model finds the target there again"
        ),
    )
    redetect_interval: int = field(
        default=1,
        metadata=_meta(
            "re-detection: while the target stays lost, tile the whole frame on every Nth frame "
            "only (the wider crop is asked every frame)"
        ),
    )
    """The first lost frame is always tiled, then every Nth: a target that stays hidden (behind
    an occluder, out of view) costs 1/N of the tiles' model calls."""
    max_tiles: int = field(
        default=16, metadata=_meta("re-detection: most whole-frame tiles per lost frame")
    )
    min_confidence: float = field(
        default=0.0,
        metadata=_meta(
            "answers less confident than this (0..1) are not taken: the target counts as not "
            "found (0: every usable answer is taken)"
        ),
    )
    """Confidence: `backends.base.answer_confidence`, the geometric mean of the answer tokens'
    probabilities; an answer without one (a server without log-probabilities) is taken."""

    min_agreement: float = field(
        default=0.0,
        metadata=_meta(
            "with views > 1: least share of the views that must agree with the consensus "
            "(IoU >= 0.5), else the target counts as not found (0: off)"
        ),
    )
    """A consistency signal for checkpoints never trained to say "absent": on a frame without
    the target, mirrored views tend to answer different look-alikes."""
    min_likeness: float = field(
        default=0.0,
        metadata=_meta(
            "the found box must look like the first frame's target this much (0..1, colour and "
            "brightness-pattern histograms); less counts as not found, and re-detection takes "
            "the most alike box (0: off)"
        ),
    )
    """`tracking/appearance.py`: a check without the model, for checkpoints that answer a box on
    every frame, the target there or not. The likeness of a box's contents to the first frame's
    target (Bhattacharyya coefficient of the two histograms) is recorded per frame when on."""
    memory_interval: int = field(
        default=0,
        metadata=_meta(
            "template memory: every N frames, a frame where the target was found confidently "
            "becomes a second template (three-image prompt; 0: off)"
        ),
    )
    """The rule: on a frame where the local search found the target (not re-detection) with
    confidence at least `memory_confidence`, and at least `memory_interval` frames after the last
    refresh, the crop around the new box (template context) replaces the second template. The
    first template is never replaced. The 100k checkpoints saw two templates in training."""
    memory_confidence: float = field(
        default=0.5,
        metadata=_meta("template memory: least confidence of a frame that becomes the template"),
    )

    def __post_init__(self) -> None:
        if self.crop_size < 28:
            raise SettingError("crop_size", f"must be at least 28 pixels, got {self.crop_size}")
        for name in ("template_factor", "search_factor"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise SettingError(name, f"must be positive, got {value}")
        for spec in SETTINGS:
            value = getattr(self, spec.fields[0])
            if spec.choices and value not in spec.choices:
                expected = ", ".join(spec.choices)
                raise SettingError(
                    spec.fields[0], f"{value!r} is unknown; expected one of {expected}"
                )
        if not 0 <= self.coord_tint < 1:
            raise SettingError("coord_tint", f"must be in [0, 1), got {self.coord_tint}")
        for name in ("scale_lr", "aspect_lr"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingError(name, f"must be in [0, 1], got {getattr(self, name)}")
        if self.views not in range(1, len(VIEW_MIRRORS) + 1):
            raise SettingError("views", f"must be 1 to {len(VIEW_MIRRORS)}, got {self.views}")
        if not (np.isfinite(self.redetect_context) and self.redetect_context > 0):
            raise SettingError("redetect_context", f"must be positive, got {self.redetect_context}")
        if self.redetect_interval < 1:
            raise SettingError(
                "redetect_interval", f"must be at least 1, got {self.redetect_interval}"
            )
        if self.grounding_windows < 0:
            raise SettingError(
                "grounding_windows",
                f"must be 0 (the whole frame) or more, got {self.grounding_windows}",
            )
        if self.max_tiles < 1:
            raise SettingError("max_tiles", f"must be at least 1, got {self.max_tiles}")
        if not 0 <= self.min_confidence <= 1:
            raise SettingError("min_confidence", f"must be in [0, 1], got {self.min_confidence}")
        if not 0 <= self.min_agreement <= 1:
            raise SettingError("min_agreement", f"must be in [0, 1], got {self.min_agreement}")
        if not 0 <= self.min_likeness <= 1:
            raise SettingError("min_likeness", f"must be in [0, 1], got {self.min_likeness}")
        if self.memory_interval < 0:
            raise SettingError(
                "memory_interval", f"must be 0 (off) or more, got {self.memory_interval}"
            )
        if self.memory_interval and self.views > 1:
            raise SettingError("memory_interval", "works with one view only (views 1)")
        if not 0 <= self.memory_confidence <= 1:
            raise SettingError(
                "memory_confidence", f"must be in [0, 1], got {self.memory_confidence}"
            )
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise SettingError("max_new_tokens", f"must be positive, got {self.max_new_tokens}")

    @classmethod
    def for_checkpoint(
        cls, model: str | None = None, served: bool = False, **overrides
    ) -> TrackerConfig:
        """The settings to track with `model` (a checkpoint directory, a Hub id, or a bundled
        name such as `nano`), by `choose_settings`. Overrides are fields, or `context` (both
        crop factors); None means not given. `served`: `model` is a served model's name (only a
        released id is recognised, no file is read).

        A model that is neither released nor carries a settings file gets the defaults for what
        an override does not set; `guessed_settings` says so in one line."""
        from r1track.models import known_checkpoint, read_settings, resolve_model

        unknown = sorted(set(overrides) - {f.name for f in fields(cls)} - {"context"})
        if unknown:
            raise TypeError(f"unknown tracker setting {unknown[0]!r}")
        known = known_checkpoint(model) if model else None
        from_file = read_settings(resolve_model(model)) if model and not served else {}
        return cls(**choose_settings(overrides, from_file, known or {}))

    def settings(self) -> dict:
        """The settings as `r1track_tracker.json` holds them (every key)."""
        return {spec.key: getattr(self, spec.fields[0]) for spec in SETTINGS}

    @property
    def answer_tokens(self) -> int:
        return self.max_new_tokens or MAX_NEW_TOKENS[self.think]


class Setting(NamedTuple):
    """One setting as flags and settings files name it, generated from `TrackerConfig`."""

    key: str
    """Settings-file key; the flag is `--` + key with dashes."""
    fields: tuple[str, ...]
    """The `TrackerConfig` fields it sets."""
    type: type
    """int, float, str or bool (a bool is a `--key/--no-key` flag)."""
    choices: tuple
    help: str
    default: Any

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def _settings() -> tuple[Setting, ...]:
    hints = typing.get_type_hints(TrackerConfig)
    by_key: dict[str, Setting] = {}
    for f in fields(TrackerConfig):
        key = f.name if f.metadata.get("key") is None else f.metadata["key"]
        if not key:
            continue
        kind = hints[f.name]
        choices = f.metadata["choices"] or typing.get_args(kind)
        kind = str if typing.get_origin(kind) is typing.Literal else kind
        if key in by_key:
            by_key[key] = by_key[key]._replace(fields=(*by_key[key].fields, f.name))
        else:
            default = f.default if f.default is not MISSING else None
            by_key[key] = Setting(key, (f.name,), kind, choices, f.metadata["help"], default)
    return tuple(by_key.values())


SETTINGS = _settings()
SETTINGS_KEYS = tuple(s.key for s in SETTINGS)
"""The keys of `r1track_tracker.json`, each also a flag of that name."""
FIELD_KEYS = {name: s.key for s in SETTINGS for name in s.fields}
"""The setting (flag, file key) of each `TrackerConfig` field that has one."""


def choose_settings(given: dict, from_file: dict, known: dict) -> dict:
    """`TrackerConfig` fields from, for each setting, the first of: `given` (flags or a
    caller's overrides; None = not given), the checkpoint's `r1track_tracker.json` (`from_file`),
    a released checkpoint's known settings (`known`); a setting none of them has keeps the
    field's default. Keys are setting keys (`context`) or field names."""
    chosen: dict = {}
    field_names = {f.name for f in fields(TrackerConfig)}
    for source in (known, from_file, {k: v for k, v in given.items() if v is not None}):
        # a setting's key first, so that a field named beside it (template_factor) wins
        for key, value in sorted(source.items(), key=lambda item: item[0] in field_names):
            names = next((s.fields for s in SETTINGS if s.key == key), (key,))
            chosen.update(dict.fromkeys(names, value))
    return chosen


def guessed_settings(model: str | None, served: bool = False, **overrides) -> str | None:
    """The note for a model whose prompt, think mode or layout r1track can only guess (neither a
    released checkpoint nor one with `r1track_tracker.json`, and no override for all three):
    one line naming what it gets. None when nothing is guessed. Arguments as `for_checkpoint`."""
    from r1track.models import known_checkpoint, read_settings, resolve_model

    if not model or known_checkpoint(model) is not None:
        return None
    if not served and read_settings(resolve_model(model)):
        return None
    if all(overrides.get(k) is not None for k in ("prompt", "think", "layout")):
        return None
    config = TrackerConfig.for_checkpoint(model, served, **overrides)
    think = "--think" if config.think else "--no-think"
    return (
        f"r1track: note: model {shorten(model)} is not a released R1-Track checkpoint and has no "
        f"r1track_tracker.json; tracking with --prompt {config.prompt} {think} "
        f"--layout {config.layout} (flags change them)"
    )


_NOTICED: set[str] = set()


def notice_guessed_settings(model: str | None, served: bool = False, **overrides) -> None:
    """Print `guessed_settings`' line on stderr, once per model in a process (an unknown
    checkpoint used to get the 5k text silently; a wrong guess degrades a fine-tuned model)."""
    line = guessed_settings(model, served, **overrides)
    if line is not None and model not in _NOTICED:
        _NOTICED.add(str(model))
        print(line, file=sys.stderr)
