"""r1track: visual single-object tracking with a multimodal LLM (Qwen2.5-VL), after R1-Track.

Start with `r1track.tracking.Tracker` and `r1track.backends.load_backend`; see docs/tracking.md
(Python API).
"""

__version__ = "0.1.0"
