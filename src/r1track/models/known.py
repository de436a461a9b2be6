"""The released R1-Track checkpoints: they carry no `r1track_tracker.json`, so their tracking
settings are kept here, found by Hub id or from a local copy's path (`known_checkpoint`)."""

from __future__ import annotations

from pathlib import PurePath

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
