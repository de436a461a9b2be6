"""`r1track app`: the browser app (the `app` extra: Gradio), on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from r1track.errors import UserError
from r1track.interrupts import Terminated, sigterm_raises

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _demo_clip() -> Path | None:
    """The bundled clip (assets/demo.mp4 of a source checkout), if this install has it."""
    clip = Path(__file__).resolve().parents[3] / "assets" / "demo.mp4"
    return clip if clip.is_file() else None


def _loaders(args: argparse.Namespace) -> dict:
    """Model name in the page -> how to make its tracker (called on first use)."""
    from r1track.backends import load_backend
    from r1track.models import resolve_checkpoint
    from r1track.tracking import Tracker, TrackerConfig

    loaders = {}
    for model in ["nano", *(args.model or [])]:
        path = resolve_checkpoint(model)  # a missing checkpoint is refused now, not in the page
        loaders[model] = lambda p=path: Tracker(load_backend("hf", p, device=args.device))
    for url in args.base_url or []:
        if not args.served_model:
            raise UserError("--base-url needs --served-model NAME (the model the server serves)")
        name = f"{args.served_model} @ {url}"
        config = TrackerConfig.for_checkpoint(args.served_model, served=True)
        loaders[name] = lambda u=url, c=config: Tracker(
            load_backend("openai", args.served_model, base_url=u), c
        )
    return loaders


def _cmd_app(args: argparse.Namespace) -> int:
    # Everything the app keeps, Gradio's own copies of uploads and results included, lives in
    # one temporary folder removed when the app stops (sessions: a folder each inside it).
    root = Path(tempfile.mkdtemp(prefix="r1track-app-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.environ["GRADIO_TEMP_DIR"] = str(root / "gradio")
    try:
        from gradio import Blocks  # noqa: F401
    except ImportError:
        raise UserError("r1track app needs Gradio: pip install 'r1track[app]'") from None
    from r1track.app.session import AppLimits
    from r1track.app.ui import Models, build_app

    for name, value in (("--max-frames", args.max_frames), ("--max-objects", args.max_objects)):
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    if not args.max_upload_mb > 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb:g}")
    limits = AppLimits(args.max_upload_mb, args.max_frames, args.max_objects)
    models = Models(_loaders(args))
    sessions = root / "sessions"
    sessions.mkdir()
    page = build_app(models, limits, sessions, _demo_clip())
    if args.host not in LOCAL_HOSTS:
        print(
            f"r1track: warning: listening on {args.host}: anyone who can reach this machine on "
            f"port {args.port} can use the app and its models",
            file=sys.stderr,
        )
    page.queue(default_concurrency_limit=1)
    print(f"r1track app on http://{args.host}:{args.port}/ (Ctrl-C stops it)", file=sys.stderr)
    with sigterm_raises():  # SIGTERM ends it through atexit too: its folder goes
        try:
            page.launch(
                server_name=args.host,
                server_port=args.port,
                max_file_size=f"{args.max_upload_mb:g}mb",
                show_error=False,
                quiet=True,
            )
        except OSError as exc:
            raise UserError(
                f"cannot listen on {args.host}:{args.port} ({exc}); use another --port"
            ) from None
        except Terminated:
            page.close()
            return Terminated.exit_code
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add `app` and its arguments to `r1track`'s subcommands."""
    app = commands.add_parser("app", help="a local web page to track objects (the app extra)")
    app.add_argument(
        "--model", action="append", help="a checkpoint the page offers besides nano; repeatable"
    )
    app.add_argument(
        "--base-url", action="append", help="an OpenAI-compatible server the page offers"
    )
    app.add_argument("--served-model", help="the model name the --base-url servers serve")
    app.add_argument("--device", default="auto", help="where local models run (default: auto)")
    app.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)"
    )
    app.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    app.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload (200)")
    app.add_argument("--max-frames", type=int, default=1500, help="longest video (1500 frames)")
    app.add_argument("--max-objects", type=int, default=8, help="most objects per run (8)")
    app.set_defaults(func=_cmd_app)
