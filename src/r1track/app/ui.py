"""The page: Gradio Blocks around `Session` (upload, objects, run, results).

Each browser tab gets its own `Session` (a `gr.State`, deleted with its folder when the tab goes
away or after `SESSION_TTL`); models are loaded once, on first use, and shared; tracking runs one
request at a time (the queue), so two users do not share a session and do not race on a model.
Every refusal is a line in the page's status box, never a stack trace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from r1track.app.session import AppError, AppLimits, Session
from r1track.errors import R1TrackError
from r1track.tracking.types import TrackerLike

SESSION_TTL = 3600
"""Seconds a session (and its folder) lives after its last use."""


class Models:
    """The models the app was started with, each loaded on first use and then kept."""

    def __init__(self, loaders: dict[str, Callable[[], TrackerLike]]):
        self.loaders = loaders
        self._loaded: dict[str, TrackerLike] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.loaders)

    def get(self, name: str) -> TrackerLike:
        if name not in self.loaders:
            raise AppError(f"unknown model {name!r}")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self.loaders[name]()
            return self._loaded[name]


def _refused(exc: Exception) -> str:
    return f"**Refused:** {exc}"


def build_app(
    models: Models, limits: AppLimits, root: Path, demo_clip: Path | None = None
) -> gr.Blocks:
    """The app's page. `root`: the folder sessions make their folders in."""

    def session_of(session: Session | None) -> Session:
        return session if session is not None else Session.new(root, limits)

    def load(session, upload):
        session = session_of(session)
        if upload is None:
            return session, None, "", session.objects_text()
        try:
            session.load_video(upload, limits)
        except AppError as exc:
            return session, None, _refused(exc), session.objects_text()
        message = f"{session.frames} frames; click two corners of a box, or describe the target"
        return session, session.preview(), message, session.objects_text()

    def load_demo(session):
        return load(session, str(demo_clip))

    def clicked(session, box_text, evt: gr.SelectData):
        session = session_of(session)
        if session.first is None:
            return session, None, box_text
        x, y = evt.index
        box = session.click(float(x), float(y))
        return session, session.preview(), box if box is not None else box_text

    def add(session, box_text, description, object_id):
        session = session_of(session)
        try:
            target = session.add(box_text, description, object_id)
        except AppError as exc:
            return session, session.preview(), _refused(exc), session.objects_text(), box_text
        status = f"added object {target.id}"
        return session, session.preview(), status, session.objects_text(), ""

    def clear(session):
        session = session_of(session)
        session.targets, session.corner = [], None
        return session, session.preview(), "objects cleared", session.objects_text()

    def run(session, model_name, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        session = session_of(session)
        try:
            tracker = models.get(model_name)
            progress(0, desc="tracking")
            overlay, files = session.track(
                tracker, lambda done, total: progress((done, total), desc="tracking", unit="frame")
            )
        except R1TrackError as exc:
            return session, None, None, _refused(exc)
        names = ", ".join(t.id for t in session.targets)
        count = len(session.targets)
        what = f"{count} object{'s' if count > 1 else ''} ({names})"
        status = f"tracked {what} through {session.frames} frames with {model_name}"
        return session, str(overlay), [str(f) for f in files], status

    with gr.Blocks(title="r1track", delete_cache=(600, SESSION_TTL)) as page:
        session = gr.State(None, time_to_live=SESSION_TTL, delete_callback=_close)
        gr.Markdown(
            "# r1track\nTrack objects in a video with a multimodal LLM: upload a video, mark "
            "each object on the first frame (two clicks) or describe it, then track."
        )
        with gr.Row():
            upload = gr.File(label="video", file_types=["video"], elem_id="upload")
            if demo_clip is not None:
                demo_button = gr.Button("use the bundled clip", elem_id="demo-clip")
        status = gr.Markdown(elem_id="status")
        first = gr.Image(
            label="first frame: click two corners of a box",
            type="pil",
            interactive=False,
            elem_id="first-frame",
        )
        with gr.Row():
            box_text = gr.Textbox(label="box x,y,w,h", elem_id="box")
            description = gr.Textbox(label="or a description of the target", elem_id="text")
            object_id = gr.Textbox(label="name (optional)", elem_id="name")
        with gr.Row():
            add_button = gr.Button("add object", elem_id="add")
            clear_button = gr.Button("clear objects", elem_id="clear")
        objects = gr.Markdown("no objects yet", elem_id="objects")
        model = gr.Dropdown(models.names, value=models.names[0], label="model", elem_id="model")
        start = gr.Button("track", variant="primary", elem_id="track")
        overlay = gr.Video(label="overlay", interactive=False, elem_id="overlay")
        results = gr.File(label="results", file_count="multiple", elem_id="results")

        upload.change(load, [session, upload], [session, first, status, objects])
        if demo_clip is not None:
            demo_button.click(load_demo, [session], [session, first, status, objects])
        first.select(clicked, [session, box_text], [session, first, box_text])
        add_button.click(
            add,
            [session, box_text, description, object_id],
            [session, first, status, objects, box_text],
        )
        clear_button.click(clear, [session], [session, first, status, objects])
        start.click(run, [session, model], [session, overlay, results, status])
    return page


def _close(session: Session | None) -> None:
    if session is not None:
        session.close()
