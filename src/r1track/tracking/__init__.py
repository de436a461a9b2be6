"""Tracking: frames -> `Tracker` (one model call per frame) -> per-frame results.

- `settings`: `TrackerConfig`, every setting's one home (flags and settings files come from it)
- `types`: what tracks are made of (`FrameResult`, `TrackState`, `AnswerCounts`, `Box`)
- `tracker`: `Tracker`: start a track from a box or a sentence, step tracks by a frame
- `steps`: the pure steps around the model call (first box checked, answer read back, damping)
- `redetect`: where to look for a lost target, and which answer to take
- `loop`: `run_tracks`, the one loop every caller drives its tracks through
- `objects`: several objects in one video, on the one loop (`run_objects`, `Target`)
- `appearance`: does a box look like the target (`min_likeness`), without the model
- `baselines`: trackers without a model, for context (`eval --baseline`)
"""

from r1track.tracking.loop import TrackEvent, TrackJob, run_tracks
from r1track.tracking.objects import ObjectsFrame, Target, run_objects
from r1track.tracking.settings import SettingError, TrackerConfig
from r1track.tracking.tracker import GroundingError, Tracker
from r1track.tracking.types import AnswerCounts, Box, FrameResult, TrackState

__all__ = [
    "AnswerCounts",
    "Box",
    "FrameResult",
    "GroundingError",
    "ObjectsFrame",
    "SettingError",
    "Target",
    "TrackEvent",
    "TrackJob",
    "TrackState",
    "Tracker",
    "TrackerConfig",
    "run_objects",
    "run_tracks",
]
