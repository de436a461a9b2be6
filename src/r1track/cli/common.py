"""Helpers the command groups share: the model flags, the tracker settings they give, the
backend they load, and checks and messages in the user's terms."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from r1track.errors import ConfigError, UserError

# Qwen-VL's processors resize every image to sides that are multiples of 28 (patch 14 x merge 2):
# an image budget below one such square cannot hold an image.
MIN_MAX_PIXELS = 28 * 28


def _check_model_args(args: argparse.Namespace) -> None:
    """Model flags the library would only trip over later (after writing the first frame, or
    as a ZeroDivisionError): refused up front, naming the flag."""
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.max_pixels is not None and args.max_pixels < MIN_MAX_PIXELS:
        raise UserError(
            f"--max-pixels must be at least {MIN_MAX_PIXELS} (one 28x28 image patch), "
            f"got {args.max_pixels}"
        )
    if args.backend == "hf":
        from r1track.backends.devices import check_device

        check_device(args.device)


def _flag(field: str, args: argparse.Namespace) -> str:
    """The flag that sets a config field: the command's own name for it (`field_flags`, set
    next to its parser where the flag is not the field's name), else the field's name as a
    flag (`max_gap`: `--max-gap`)."""
    return getattr(args, "field_flags", {}).get(field, "--" + field.replace("_", "-"))


def _error_message(exc: UserError, args: argparse.Namespace) -> str:
    """A config value's error in the user's terms: the flag that set the value, or the
    checkpoint's r1track_tracker.json when a tracker setting came from there (not a field)."""
    from r1track.tracking.settings import FIELD_KEYS, SettingError

    if not isinstance(exc, ConfigError):
        return str(exc)
    if not isinstance(exc, SettingError):
        return f"{_flag(exc.field, args)} {exc.rule}"
    key = FIELD_KEYS.get(exc.field, exc.field)
    model = getattr(args, "model", None)
    if getattr(args, key, None) is None and model and getattr(args, "backend", None) == "hf":
        from r1track.models import SETTINGS_FILE, read_settings

        if key in read_settings(model):
            return f"{Path(model) / SETTINGS_FILE}: {exc}"
    return f"{_flag(key, args)} {exc.rule}"


def _add_model_args(p: argparse.ArgumentParser, baseline: bool = False) -> None:
    from r1track.backends import BACKENDS
    from r1track.backends.openai_api import SERVER_PROFILES

    model_help = "checkpoint directory or Hub id (hf), or served model name (openai)"
    if baseline:  # --model or --baseline, exactly one
        from r1track.tracking.baselines import BASELINES

        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--model", help=model_help)
        who.add_argument(
            "--baseline",
            choices=BASELINES,
            help="no model: no-motion returns the first box; csrt, kcf, mil are OpenCV's classic "
            "trackers (the classic extra)",
        )
    else:
        p.add_argument("--model", required=True, help=model_help)
    first = len(p._actions)
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="hf",
        help="hf: in-process transformers; openai: a server",
    )
    p.add_argument(
        "--base-url",
        action="append",
        help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1; repeat it for several "
        "servers serving the same model (requests spread by load, a failed request retried "
        "on the others)",
    )
    p.add_argument(
        "--server",
        choices=SERVER_PROFILES,
        default="openai",
        help="openai backend: openai sends only standard chat-completions fields (any server); "
        "vllm adds vLLM's include_stop_str_in_output and repetition_penalty 1.0 (default: openai)",
    )
    p.add_argument(
        "--device", default="auto", help="hf backend: cpu, cuda, cuda:1, ... (default: auto)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="openai backend: seconds per request"
    )
    p.add_argument(
        "--max-pixels", type=int, help="openai backend: the server processor's max_pixels"
    )
    # Each defaults to the checkpoint's own settings (r1track_tracker.json), else R1-Track's.
    _add_setting_flags(p)
    p.add_argument(
        "--no-template-reuse",
        action="store_true",
        help="hf backend: recompute the template every frame (default: encode and prefill it once)",
    )
    p.add_argument(
        "--no-draft",
        action="store_true",
        help="hf backend: decode one token per forward pass (default: check the track's previous "
        "answer as a draft of this one; the same answers, docs/architecture.md)",
    )
    # Every flag above configures a model; a baseline refuses them rather than ignore them.
    model_only = {a.dest: (a.option_strings[0], a.default) for a in p._actions[first:]}
    p.set_defaults(model_only=model_only)


def _add_setting_flags(p: argparse.ArgumentParser) -> None:
    """A flag per tracker setting, made from `TrackerConfig`'s fields (`SETTINGS`): its help,
    choices and type; not given (None), the setting comes from the checkpoint, else the
    field's default."""
    from r1track.tracking.settings import SETTINGS

    for setting in SETTINGS:
        default = setting.default
        if setting.type is bool:
            default = "on" if default else "off"
        options: dict = {"help": f"{setting.help} (default: the checkpoint's, else {default})"}
        if setting.type is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = setting.type
        if setting.choices:
            options["choices"] = setting.choices
        p.add_argument(setting.flag, **options)


def _refuse_model_flags(args: argparse.Namespace) -> None:
    """A baseline has no model: a model flag given with it is a mistake, said in one line."""
    given = [
        flag for dest, (flag, default) in args.model_only.items() if getattr(args, dest) != default
    ]
    if given:
        raise UserError(f"--baseline {args.baseline} takes no model flags: drop {', '.join(given)}")


def _setting_flags(args: argparse.Namespace) -> dict:
    from r1track.tracking.settings import SETTINGS_KEYS

    return {key: getattr(args, key) for key in SETTINGS_KEYS}  # each has its flag of that name


def _tracker_config(args: argparse.Namespace):
    """Tracker settings: flags, else the checkpoint's r1track_tracker.json, else a released
    checkpoint's known settings, else the defaults."""
    from r1track.tracking.settings import TrackerConfig

    # A served model is known by its name only (a released Hub id); hf reads its directory too.
    return TrackerConfig.for_checkpoint(
        args.model, served=args.backend != "hf", **_setting_flags(args)
    )


def _notice_guessed_settings(args: argparse.Namespace) -> None:
    """Once the inputs are checked: say which prompt, think mode and layout a model gets that
    r1track does not know (one line; nothing for a released or self-describing checkpoint)."""
    from r1track.tracking.settings import notice_guessed_settings

    notice_guessed_settings(args.model, args.backend != "hf", **_setting_flags(args))


def _resolve_model(args: argparse.Namespace) -> None:
    """`--model nano` (a bundled model) becomes its directory, for the hf backend."""
    from r1track.models import resolve_model

    if args.backend == "hf":
        args.model = resolve_model(args.model)


def _backend(args: argparse.Namespace, batch_size: int = 8):
    from r1track.backends import load_backend

    return load_backend(
        args.backend,
        args.model,
        base_url=args.base_url,
        server=args.server,
        device=args.device,
        batch_size=batch_size,
        timeout=args.timeout,
        max_pixels=args.max_pixels,
        reuse_template=not args.no_template_reuse,
        draft=not args.no_draft,
    )


def _refuse_non_empty(path: Path, label: str, instead: str) -> None:
    """Refuse to write into a folder that already has content: files of another run would stay
    mixed in with the new ones (a dataset's old frames, a model's old weights)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{label}: {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise UserError(f"{label}: {path}/ exists and is not empty; {instead}")
