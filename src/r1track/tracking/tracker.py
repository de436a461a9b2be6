"""The tracker: start from a box or a sentence, then one model call per frame.

Shape of the API (after SAM 2's video predictor): a `Tracker` holds a backend and a config;
`start` makes a small `TrackState` from the first frame; `step` / `step_many` advance one or
several tracks by one frame (the per-frame step's one home); `track` is a generator over a frame
source. Every caller drives tracks through `r1track.tracking.loop.run_tracks`, `track` included.

Per frame: square search crop around the last box -> model sees (template crop, search crop,
text) -> the answer box (crop pixels) is mapped back to the frame and clipped. An unusable answer
(no box, degenerate, outside the crop or frame) keeps the last *frame-space* box and says why:
the reference keeps the old *crop-space* box instead and reuses it in a new crop, which drifts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from r1track.backends.base import Backend, GenerationRequest
from r1track.errors import R1TrackError, UserError, shorten
from r1track.geometry import (
    as_sent,
    clip_xyxy,
    consensus_agreement_xyxy,
    coord_tint,
    crop_image,
    crop_window,
    iou_xyxy,
    mirror_image,
    mirror_xyxy,
    smart_resize,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from r1track.prompts import (
    GROUNDING_MAX_NEW_TOKENS,
    STOP_STRINGS,
    grounding_prompt,
    parse_box,
    task_prompt,
    tracking_prompt,
)
from r1track.tracking.appearance import brightness_of, describe, likeness
from r1track.tracking.redetect import (
    GROUNDING_ASK_STRIDE,
    best_candidate,
    grounding_windows,
    pooled_box,
    search_windows,
)
from r1track.tracking.settings import (
    VIEW_MIRRORS,
    SettingError,
    TrackerConfig,
    notice_guessed_settings,
)
from r1track.tracking.steps import (
    as_image,
    check_init_box,
    confidence,
    damp_size,
    grounding_image,
    read_answer,
)
from r1track.tracking.types import Frame, FrameResult, TrackState, WindowCandidates, as_box


class GroundingError(R1TrackError):
    """Text initialisation failed: the model gave no usable box for the description."""


class Tracker:
    """Single-object tracking with a multimodal LLM behind a `Backend`.

    Without a `config`, the tracker uses the settings of the backend's checkpoint (its
    `r1track_tracker.json`, when the backend has a `checkpoint` directory), else R1-Track's
    defaults; `TrackerConfig.for_checkpoint(model, **overrides)` changes some of them.
    """

    def __init__(self, backend: Backend, config: TrackerConfig | None = None):
        self.backend = backend
        if config is None:
            checkpoint = getattr(backend, "checkpoint", None)
            config = TrackerConfig.for_checkpoint(checkpoint)
            notice_guessed_settings(checkpoint)
        self.config = config
        limits = backend.pixel_limits
        size = self.config.crop_size
        if smart_resize(size, size, limits.factor, limits.min_pixels, limits.max_pixels) != (
            size,
            size,
        ):
            raise SettingError(
                "crop_size",
                f"{size} would be resized by the model's processor (sides must be "
                f"multiples of {limits.factor}, area within [{limits.min_pixels}, "
                f"{limits.max_pixels}] pixels); the answer's coordinates would not match the crop",
            )

    # -- starting a track ---------------------------------------------------------------------

    def start(
        self,
        frame: Frame,
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> tuple[TrackState, FrameResult]:
        """Start a track on its first frame from a box `(x, y, w, h)` or a description."""
        t0 = time.perf_counter()
        frame = as_image(frame)
        if (bbox is None) == (text is None):
            raise UserError("give exactly one of a box or a text description to start a track")
        answer, model_seconds = None, 0.0
        if bbox is not None:
            box = check_init_box(bbox, frame.size)
        else:
            box, answer, model_seconds = self.ground(frame, str(text))
        cfg = self.config
        window = crop_window(box, cfg.template_factor, cfg.crop_size)
        # Unclipped, as R1-Track wrote it (a box longer than the window runs past the crop).
        template_box = window.to_crop(xywh_to_xyxy(box))
        template = crop_image(frame, window, cfg.resize)
        state = TrackState(
            template=self._seen(template),
            prompt=tracking_prompt(template_box, cfg.prompt),
            box=box,
            template_box=template_box,
            appearance=describe(frame, box) if cfg.min_likeness else None,
            mirrored=tuple(
                (
                    self._seen(mirror_image(template, *flips)),
                    tracking_prompt(mirror_xyxy(template_box, cfg.crop_size, *flips), cfg.prompt),
                )
                for flips in VIEW_MIRRORS[1 : cfg.views]
            ),
        )
        result = FrameResult(
            index=0,
            box=as_box(box),
            answer=answer,
            parsed=None if text is None else True,
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
        )
        return state, result

    def _seen(self, crop: Image.Image) -> Image.Image:
        """A crop as the model is given it: coordinate tint (if any), then the image format."""
        return as_sent(coord_tint(crop, self.config.coord_tint), self.config.image_format)

    def ground(self, frame: Image.Image, text: str) -> tuple[np.ndarray, str, float]:
        """Find the described target on a frame: `(box xywh, raw answer, model seconds)`.

        Qwen2.5-VL answers in pixels of the image as its processor resized it. We resize the
        frame ourselves to exactly that size first (so the processor leaves it alone), then
        scale the answer back to the original frame.
        """
        frame = as_image(frame)
        if self.config.grounding_windows:
            return self._ground_in_windows(frame, text)
        width, height = frame.size
        limits = self.backend.pixel_limits
        max_pixels = min(limits.max_pixels, self.config.grounding_max_pixels)
        image = grounding_image(frame, limits.factor, limits.min_pixels, max_pixels)
        image = coord_tint(image, self.config.coord_tint)
        new_w, new_h = image.size
        request = GenerationRequest((image,), grounding_prompt(text), GROUNDING_MAX_NEW_TOKENS)
        t0 = time.perf_counter()
        answer = self.backend.generate([request])[0]
        model_seconds = time.perf_counter() - t0
        parsed = parse_box(answer)
        if not parsed.ok:
            raise GroundingError(
                f"the model found no box for {shorten(text)} on the first frame "
                f"({parsed.error}; answer: {answer[:120]!r})"
            )
        scale = np.array([width / new_w, height / new_h] * 2)
        box = clip_xyxy(np.asarray(parsed.box) * scale, width, height)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            raise GroundingError(
                f"the model's box for {shorten(text)} has no area inside the frame "
                f"(answer: {answer[:120]!r})"
            )
        return xyxy_to_xywh(box), answer, model_seconds

    def ground_candidates(self, frame: Image.Image, text: str) -> WindowCandidates:
        """Every window of `grounding_windows` (`redetect.grounding_windows`) asked for its
        likeliest box (`box_only`) in batched calls: the answers read back to the frame, with how
        likely the model found the absent answer in each."""
        cfg = self.config
        windows = grounding_windows(
            frame.size,
            cfg.search_factor,
            cfg.crop_size,
            cfg.grounding_windows,
            GROUNDING_ASK_STRIDE,
        )
        prompt = grounding_prompt(text)
        requests = [
            GenerationRequest(
                (self._seen(crop_image(frame, window, cfg.resize)),),
                prompt,
                GROUNDING_MAX_NEW_TOKENS,
                stop=STOP_STRINGS[False],
                layout=cfg.layout,
                box_only=True,
            )
            for window in windows
        ]
        t0 = time.perf_counter()
        answers = self.backend.generate(requests)
        model_seconds = time.perf_counter() - t0
        absent = [getattr(a, "absent", None) for a in answers]
        if any(p is None for p in absent):
            raise GroundingError(
                "--grounding-windows ranks windows by how likely the model finds the absent "
                f"answer, which the {getattr(self.backend, 'name', 'given')} backend does not say "
                "(use the hf backend, or --grounding-windows 0)"
            )
        reads = [read_answer(a, w, frame.size) for a, w in zip(answers, windows, strict=True)]
        return WindowCandidates(
            windows=windows,
            boxes=[box for box, _, _ in reads],
            presence=[1.0 - p for p in absent],
            usable=[fallback is None for _, _, fallback in reads],
            answers=list(answers),
            model_seconds=model_seconds,
        )

    def _ground_in_windows(self, frame: Image.Image, text: str) -> tuple[np.ndarray, str, float]:
        """`ground` with `grounding_windows`: the box the windows agree on (`pooled_box`: the
        answer with the most presence among the boxes overlapping it, and their presence-weighted
        mean), with that answer's text."""
        found = self.ground_candidates(frame, text)
        pooled = pooled_box(found.boxes, found.presence, found.usable)
        if pooled is None:
            raise GroundingError(
                f"the model gave no usable box for {shorten(text)} in any of the first frame's "
                f"{len(found.answers)} windows (first answer: {found.answers[0][:120]!r})"
            )
        best, box = pooled
        return xyxy_to_xywh(box), found.answers[best], found.model_seconds

    # -- advancing tracks ---------------------------------------------------------------------

    def step(self, state: TrackState, frame: Frame) -> FrameResult:
        """Advance one track by one frame."""
        return self.step_many([state], [frame])[0]

    def step_many(self, states: Sequence[TrackState], frames: Sequence[Frame]) -> list[FrameResult]:
        """Advance several tracks by one frame each with one batched backend call (and, with
        `redetect`, one more for the tracks that lost their target on this frame)."""
        if len(states) != len(frames):
            raise ValueError(f"{len(states)} tracks but {len(frames)} frames")
        t0 = time.perf_counter()
        cfg = self.config
        images = [as_image(f) for f in frames]
        windows, requests = [], []
        for state, frame in zip(states, images, strict=True):
            window = crop_window(state.box, cfg.search_factor, cfg.crop_size)
            windows.append(window)
            search = crop_image(frame, window, cfg.resize)
            views = ((state.template, state.prompt), *state.mirrored)[: cfg.views]
            for v, (template, prompt) in enumerate(views):
                seen = self._seen(mirror_image(search, *VIEW_MIRRORS[v]))
                if v == 0:
                    requests.append(self._track_request(state, seen))
                else:
                    requests.append(self._request((template,), seen, prompt, f"{state.key}:{v}"))
        t_model = time.perf_counter()
        answers = self.backend.generate(requests)
        model_seconds = time.perf_counter() - t_model
        results = []
        for i, (state, frame, window) in enumerate(zip(states, images, windows, strict=True)):
            own = answers[i * cfg.views : (i + 1) * cfg.views]
            reads = [
                read_answer(answer, window, frame.size, VIEW_MIRRORS[v])
                for v, answer in enumerate(own)
            ]
            usable = [v for v, (_, _, fallback) in enumerate(reads) if fallback is None]
            state.frame_index += 1
            chosen, fallback, alike = 0, reads[0][2], None
            if usable:
                boxes = [reads[v][0] for v in usable]
                medoid, combined, agreeing = consensus_agreement_xyxy(boxes)
                chosen, fallback = usable[medoid], None
                # an answer without a confidence counts as confident
                taken = confidence(own[chosen], 1.0)
                box = damp_size(
                    state.box, xyxy_to_xywh(combined), cfg.scale_lr, frame.size, cfg.aspect_lr
                )
                alike = self._likeness(state, frame, box)
                if taken < cfg.min_confidence:
                    fallback = "unconfident"
                elif agreeing / cfg.views < cfg.min_agreement:  # views without an answer disagree
                    fallback = "disagreed"
                elif alike is not None and alike < cfg.min_likeness:
                    fallback = "unlike"
                else:
                    state.box = box
                    self._remember(state, frame, taken)
            results.append(
                FrameResult(
                    index=state.frame_index,
                    box=as_box(state.box),
                    answer=own[chosen],
                    parsed=reads[chosen][1],
                    fallback=fallback,
                    visible=fallback is None,
                    confidence=confidence(own[chosen]),
                    likeness=alike,
                )
            )
        lost = [i for i, r in enumerate(results) if not r.visible]
        if cfg.redetect and lost:
            t_model = time.perf_counter()
            self._redetect(
                [states[i] for i in lost], [images[i] for i in lost], [results[i] for i in lost]
            )
            model_seconds += time.perf_counter() - t_model
        per_frame = (time.perf_counter() - t0) / len(states)
        for state, result in zip(states, results, strict=True):
            state.lost = 0 if result.visible else state.lost + 1
            result.model_seconds = model_seconds / len(states)
            result.seconds = per_frame
        return results

    def _likeness(
        self, state: TrackState, frame: Image.Image, box, brightness: float | None = None
    ) -> float | None:
        """`min_likeness`: how much `box` (xywh) looks like the first frame's target; None off.
        `brightness`: the frame's (`appearance.brightness_of`), when known."""
        if state.appearance is None:
            return None
        return likeness(state.appearance, describe(frame, box, brightness))

    def _track_request(self, state: TrackState, search: Image.Image) -> GenerationRequest:
        """The request for a track's search crop: its template (and its memory, when it has
        one: two templates and the two-template prompt) first, then the search crop."""
        if state.memory is None:
            return self._request((state.template,), search, state.prompt, state.key)
        memory, prompt, since = state.memory
        return self._request((state.template, memory), search, prompt, f"{state.key}:m{since}")

    def _remember(self, state: TrackState, frame: Image.Image, confidence: float) -> None:
        """Template memory (`TrackerConfig.memory_interval`): the frame just found becomes the
        second template when it is confident enough and the last refresh is old enough."""
        cfg = self.config
        since = state.memory[2] if state.memory else 0
        if not cfg.memory_interval or state.frame_index - since < cfg.memory_interval:
            return
        if confidence < cfg.memory_confidence:
            return
        window = crop_window(state.box, cfg.template_factor, cfg.crop_size)
        box = window.to_crop(xywh_to_xyxy(state.box))
        crop = self._seen(crop_image(frame, window, cfg.resize))
        prompt = task_prompt([state.template_box, box], cfg.prompt)
        state.memory = (crop, prompt, state.frame_index)

    def _request(
        self, templates: tuple[Image.Image, ...], search: Image.Image, prompt: str, key: str
    ) -> GenerationRequest:
        cfg = self.config
        return GenerationRequest(
            (*templates, search),
            prompt,
            cfg.answer_tokens,
            stop=STOP_STRINGS[cfg.think],
            prefix_key=key,
            think=cfg.think,
            layout=cfg.layout,
        )

    def _redetect(
        self, states: list[TrackState], frames: list[Image.Image], results: list[FrameResult]
    ) -> None:
        """Look for each lost track's target in its re-detection windows (`redetect.py`), all
        in one backend call; a track whose target is found takes that box, and its result says
        so (`redetected`); the others keep the last box, not visible."""
        cfg = self.config
        windows = [
            search_windows(
                s.box, f.size, cfg.search_factor, cfg.redetect_context, cfg.max_tiles, cfg.crop_size
            )[: None if s.lost % cfg.redetect_interval == 0 else 1]  # the wider crop alone
            for s, f in zip(states, frames, strict=True)
        ]
        requests = [
            self._track_request(s, self._seen(crop_image(f, w, cfg.resize)))
            for s, f, ws in zip(states, frames, windows, strict=True)
            for w in ws
        ]
        answers = iter(self.backend.generate(requests))
        found = []  # (state, frame, result, frame box xyxy, answer, confidence, likeness)
        for state, frame, ws, result in zip(states, frames, windows, results, strict=True):
            own = [next(answers) for _ in ws]
            reads = [read_answer(a, w, frame.size) for a, w in zip(own, ws, strict=True)]
            confidences = [confidence(a) for a in own]
            usable = [fallback is None for _, _, fallback in reads]
            alike: list[float | None] = [None] * len(ws)
            if state.appearance is None:
                best = best_candidate(confidences, usable, cfg.min_confidence)
            else:  # the most alike of the confident enough
                usable = [  # an answer without a confidence counts as confident
                    ok and (1.0 if c is None else c) >= cfg.min_confidence
                    for ok, c in zip(usable, confidences, strict=True)
                ]
                light = brightness_of(frame)
                alike = [
                    self._likeness(state, frame, xyxy_to_xywh(box), light) if ok else 0.0
                    for (box, _, _), ok in zip(reads, usable, strict=True)
                ]
                best = best_candidate(alike, usable, cfg.min_likeness)
            if best is not None:
                found.append(
                    (
                        state,
                        frame,
                        result,
                        reads[best][0],
                        own[best],
                        confidences[best],
                        alike[best],
                    )
                )
        if cfg.redetect_verify and found:
            found = self._verified(found)
        for state, _, result, box, answer, score, alike_score in found:
            state.box = xyxy_to_xywh(box)
            result.box, result.answer, result.parsed = as_box(state.box), answer, True
            result.fallback, result.visible, result.redetected = None, True, True
            result.confidence, result.likeness = score, alike_score

    def _verified(self, found: list[tuple]) -> list[tuple]:
        """`redetect_verify`: each re-detected box asked about again in an ordinary search crop
        around it (one batched call); kept, with that answer's box, only when the model finds
        the target there again, overlapping (IoU >= 0.5), and (with `min_likeness`) alike."""
        cfg = self.config
        windows = [
            crop_window(xyxy_to_xywh(entry[3]), cfg.search_factor, cfg.crop_size) for entry in found
        ]
        requests = [
            self._track_request(state, self._seen(crop_image(frame, window, cfg.resize)))
            for (state, frame, *_), window in zip(found, windows, strict=True)
        ]
        kept = []
        answers = self.backend.generate(requests)
        for entry, window, answer in zip(found, windows, answers, strict=True):
            state, frame = entry[0], entry[1]
            box, _, fallback = read_answer(answer, window, frame.size)
            if fallback is not None or float(iou_xyxy(box, entry[3])) < 0.5:
                continue
            alike = self._likeness(state, frame, xyxy_to_xywh(box))
            if alike is not None and alike < cfg.min_likeness:
                continue
            kept.append((*entry[:3], box, answer, confidence(answer), alike))
        return kept

    # -- whole videos -------------------------------------------------------------------------

    def track_objects(self, frames: Iterable[Frame], targets: Sequence) -> Iterator:
        """Track several objects through `frames` in one pass (`tracking/objects.py`): each
        frame decoded once, every object's request in one batched call; yields an
        `ObjectsFrame` (every object's `FrameResult` by id) per frame. `targets`: `Target`s."""
        from r1track.tracking.objects import run_objects

        yield from run_objects(self, frames, targets)

    def track(
        self,
        frames: Iterable[Frame],
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> Iterator[FrameResult]:
        """Track through `frames`, yielding one result per frame (the first is the init box).

        Frames are consumed one at a time, so memory does not grow with the video's length.
        The loop is `r1track.tracking.loop.run_tracks` with one track; an error ends it.
        """
        from r1track.tracking.loop import TrackJob, run_tracks

        for event in run_tracks(self, [TrackJob(frames, bbox=bbox, text=text)]):
            if event.error is not None:
                raise event.error
            if event.result is not None:
                yield event.result
