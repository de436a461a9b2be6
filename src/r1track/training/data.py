"""`r1track data build`: tracking datasets -> a Hugging Face dataset that TRL's trainers consume.

Rows are conversational: `prompt` (one user turn: image placeholders and the task text from
`r1track.prompts`, laid out by `chat_messages` as the tracker sends them with the same layout),
`completion` (the answer, for SFT), `images` (2 or 3 crops: JPEG quality 95 as R1-Track's
`cv2.imwrite`, or PNG), `solution` (search box, integer `[x1,y1,x2,y2]` in crop pixels, or the
empty list `[]` for an absent sample, whose completion is `prompts.ABSENT_ANSWER`: the target is
not in the search crop; GRPO passes it to the rewards), `template_boxes` (each template's box in
its crop, as the 5k/100k prompts show it) and provenance (`sequence`, `frames`, `size`).

With `tracker_run` (an `r1track eval` run on the same dataset and split) the pairs are the
tracker's own (on-policy): template from frame 0, search crop centred on the run's box of the
previous frame, so training sees the drift and the recoveries that tracking produces.

With `sampling.absent_rate` R > 0, each sample is an absent one with probability R
(`sampling.draw_absent_sample`: half from frames where the target is absent or fully covered,
half from search crops that miss it); R = 0 draws no extra random number, so a build is the same
as before the setting existed.

Deterministic for a seed whatever the number of workers: sample i draws from its own random
generator seeded by (seed, i). The validation split holds out whole sequences.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from r1track.datasets import load_dataset
from r1track.datasets.base import Sequence
from r1track.errors import ConfigError, UserError, check_at_least, check_choice, check_in_range
from r1track.geometry import IMAGE_FORMATS, jpeg_bytes
from r1track.prompts import Layout, PromptVariant, answer_text, chat_messages, task_prompt
from r1track.training.grounding import grounding_sample
from r1track.training.paste import paste_sample
from r1track.training.sampling import (
    SamplingConfig,
    draw_absent_sample,
    draw_sample,
    draw_tracked_sample,
    hidden_frames,
    usable_frames,
)

BUILD_INFO = "r1track_build.json"
CHUNK = 512  # rows held in memory before they are written to disk


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines a built dataset."""

    dataset: str
    root: str
    split: str = "train"
    num_samples: int = 1000
    prompt: PromptVariant = "5k"
    think: bool = False
    layout: Layout = "r1track"
    """Message layout of the `prompt` column (`r1track.prompts.LAYOUTS`), as the tracker sends it
    with the same `--layout`."""
    val_fraction: float = 0.05
    seed: int = 0
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    tracker_run: str | None = None
    """An `r1track eval` run directory on this dataset and split: pairs are drawn on-policy
    (template = frame 0, search crop centred on the run's previous box). None: the recipe."""
    grounding_root: str | None = None
    """Where grounding samples (`sampling.grounding_rate`) come from: this root's sequences (the
    same `dataset` and `split`, held out for validation as `root`'s are). None: `root`'s. For a
    tracking mix whose own descriptions do not pick one object out (a street of people)."""
    image_format: str = "jpeg"
    """How crops are stored (`geometry.IMAGE_FORMATS`): `jpeg`, quality 95 with OpenCV's
    defaults (R1-Track's training crops were `cv2.imwrite` JPEG files); `png`, lossless."""

    def __post_init__(self) -> None:
        check_at_least("num_samples", self.num_samples, 1)
        check_in_range("val_fraction", self.val_fraction, 0, 1)
        check_choice("image_format", self.image_format, IMAGE_FORMATS)
        if self.tracker_run and self.sampling.images != 2:
            # the flag in the rule: tests and users know this message by `--images 2`
            raise ConfigError("tracker_run", "draws template + search pairs: use --images 2")
        if self.grounding_root and not self.sampling.grounding_rate:
            raise ConfigError("grounding_root", "gives grounding samples: use --grounding-rate")
        if self.tracker_run and self.sampling.paste_rate:
            raise ConfigError("tracker_run", "draws on-policy pairs only: use --paste-rate 0")
        if self.tracker_run and self.sampling.absent_rate:
            raise ConfigError("tracker_run", "draws on-policy pairs only: use --absent-rate 0")


def read_tracked_boxes(run: str | Path, dataset: str, sequences: list[Sequence]):
    """Each sequence's boxes from a tracker run, one finite `x, y, w, h` row per frame."""
    from r1track.datasets.base import DatasetError, read_boxes
    from r1track.evaluation.layout import boxes_path

    run = Path(run)
    if not run.is_dir():
        raise UserError(f"--tracker-run {run}: no such directory")
    tracked = []
    for seq in sequences:
        path = boxes_path(run, dataset, seq.name)
        if not path.is_file():
            raise UserError(f"--tracker-run {run}: no result for sequence {seq.name} ({path})")
        try:
            boxes = read_boxes(path, expected=len(seq.frame_files), allow_nan=False)
        except DatasetError as exc:
            raise UserError(f"--tracker-run: {exc}") from None
        if (boxes[:, 2:] <= 0).any():
            raise UserError(f"--tracker-run: {path}: a box with no width or height")
        tracked.append(boxes)
    return tracked


def _features():
    from datasets import Features, Image, List, Value

    message = {
        "role": Value("string"),
        "content": List({"type": Value("string"), "text": Value("string")}),
    }
    return Features(
        {
            "prompt": List(message),
            "completion": List(message),
            "images": List(Image()),
            "solution": List(Value("int32")),
            "template_boxes": List(List(Value("int32"))),
            "sequence": Value("string"),
            "frames": List(Value("int32")),
            "size": Value("int32"),
        }
    )


def _stored(image, image_format: str) -> dict:
    """A crop as the dataset's `images` column holds it: JPEG (`geometry.jpeg_bytes`) or PNG."""
    if image_format == "jpeg":
        return {"bytes": jpeg_bytes(image), "path": None}
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def split_sequences(sequences: list[Sequence], val_fraction: float, seed: int):
    """Hold out whole sequences for validation (seeded): (train, val). `val_fraction` is in
    [0, 1) (`BuildConfig` checks it)."""
    order = np.random.default_rng([seed, 7919]).permutation(len(sequences))
    n_val = round(len(sequences) * val_fraction)
    if val_fraction > 0:
        n_val = min(max(1, n_val), len(sequences) - 1)
    val = [sequences[i] for i in sorted(order[:n_val])]
    train = [sequences[i] for i in sorted(order[n_val:])]
    return train, val


# Worker state: each worker process loads the sequence lists once.
_STATE: dict = {}


def _init_worker(config: BuildConfig) -> None:
    sequences = load_dataset(config.dataset, config.root, config.split)
    train, val = split_sequences(sequences, config.val_fraction, config.seed)
    pools = {}
    for split, seqs in (("train", train), ("validation", val)):
        tracked = (
            read_tracked_boxes(config.tracker_run, config.dataset, seqs)
            if config.tracker_run
            else None
        )
        pools[split] = (
            seqs,
            [usable_frames(s) for s in seqs],
            tracked,
            [hidden_frames(s) for s in seqs],
        )
    if config.grounding_root:
        ground = load_dataset(config.dataset, config.grounding_root, config.split)
        ground_train, ground_val = split_sequences(ground, config.val_fraction, config.seed)
        grounding = {
            split: (seqs, [usable_frames(s) for s in seqs])
            for split, seqs in (("train", ground_train), ("validation", ground_val))
        }
    else:
        grounding = {split: pool[:2] for split, pool in pools.items()}
    _STATE.update(config=config, pools=pools, grounding=grounding)


def _make_row(task: tuple[int, str]) -> tuple[int, str, dict | None, Counter]:
    index, split = task
    config: BuildConfig = _STATE["config"]
    sequences, usable, tracked, hidden = _STATE["pools"][split]
    rng = np.random.default_rng([config.seed, index])
    drops: Counter = Counter()
    rate = config.sampling.absent_rate
    grounding = config.sampling.grounding_rate
    if grounding and rng.random() < grounding:  # as the absent rate: no draw when it is 0
        sample = grounding_sample(*_STATE["grounding"][split], rng, config.sampling, drops)
    elif rate and rng.random() < rate:  # no draw at all when the rate is 0: builds stay the same
        sample = draw_absent_sample(sequences, usable, hidden, rng, config.sampling, drops)
    elif tracked is None:
        sample = draw_sample(sequences, usable, rng, config.sampling, drops)
        paste = config.sampling.paste_rate
        if sample is not None and paste and rng.random() < paste:  # no draw when it is 0
            other = draw_sample(sequences, usable, rng, config.sampling, drops)
            pasted = None if other is None else paste_sample(sample, other, rng)
            if pasted is None:
                drops["paste_gave_up"] += 1
            sample = pasted or sample
    else:
        sample = draw_tracked_sample(sequences, usable, tracked, rng, config.sampling, drops)
    if sample is None:
        return index, split, None, drops
    prompt = sample.prompt or task_prompt(sample.template_boxes, config.prompt)
    row = {
        "prompt": chat_messages(config.layout, len(sample.images), prompt, config.think),
        "completion": [
            {
                "role": "assistant",
                "content": [{"type": "text", "text": answer_text(sample.solution, config.think)}],
            }
        ],
        "images": [_stored(im, config.image_format) for im in sample.images],
        "solution": sample.solution if sample.solution is not None else [],
        "template_boxes": sample.template_boxes,
        "sequence": sample.sequence,
        "frames": sample.frames,
        "size": sample.size,
    }
    return index, split, row, drops


def _produce(tasks, config: BuildConfig, workers: int):
    """Yield `(split, row or None, drops)` in task order, from a worker pool or in-process."""
    if workers > 1:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
            for _, split, row, drops in pool.imap(_make_row, tasks, chunksize=8):
                yield split, row, drops
    else:
        _init_worker(config)
        for task in tasks:
            _, split, row, drops = _make_row(task)
            yield split, row, drops


def build_dataset(config: BuildConfig, out: str | Path, workers: int = 1, progress: bool = True):
    """Build and save a `DatasetDict` (train, and validation unless empty) at `out`; returns
    the build info."""
    import tempfile

    import datasets
    from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
    from tqdm import tqdm

    datasets.disable_progress_bars()

    out = Path(out)
    check_at_least("workers", workers, 1)  # BuildConfig and SamplingConfig check the config
    sequences = load_dataset(config.dataset, config.root, config.split)  # validates the data
    if config.tracker_run:
        read_tracked_boxes(config.tracker_run, config.dataset, sequences)  # fail before workers
    train, val = split_sequences(sequences, config.val_fraction, config.seed)
    if not any(len(usable_frames(s)) >= config.sampling.images for s in train):
        raise UserError("no training sequence has enough frames with a visible target")
    if config.grounding_root:  # fail before workers, as for the root
        ground = load_dataset(config.dataset, config.grounding_root, config.split)
        if not any(s.description for s in ground):
            raise UserError(
                f"--grounding-root {config.grounding_root}: no sequence has a description"
            )
    n_val = round(config.num_samples * config.val_fraction) if val else 0
    tasks = [(i, "validation" if i < n_val else "train") for i in range(config.num_samples)]
    features = _features()
    stats = {split: {"made": 0, "drops": Counter()} for split in ("train", "validation")}
    with tempfile.TemporaryDirectory() as tmp:
        # Rows are written in chunks to disk so memory stays bounded for large builds.
        parts: dict[str, list] = {"train": [], "validation": []}
        pending: dict[str, list] = {"train": [], "validation": []}

        def flush(split: str) -> None:
            if pending[split]:
                chunk = Dataset.from_list(pending[split], features=features)
                path = Path(tmp) / f"{split}-{len(parts[split]):05d}"
                chunk.save_to_disk(str(path))
                parts[split].append(load_from_disk(str(path)))
                pending[split] = []

        bar = tqdm(
            total=len(tasks),
            unit="sample",
            desc="data build",
            file=sys.stderr,
            disable=not progress,
        )
        for split, row, drops in _produce(tasks, config, workers):
            stats[split]["drops"].update(drops)
            bar.update()
            if row is not None:
                stats[split]["made"] += 1
                pending[split].append(row)
                if len(pending[split]) >= CHUNK:
                    flush(split)
        bar.close()
        splits = {}
        for split in ("train", "validation"):
            flush(split)
            # an empty split is left out: datasets cannot load an empty saved split back
            if parts[split]:
                splits[split] = concatenate_datasets(parts[split])
        DatasetDict(splits).save_to_disk(str(out))
    for split in stats:
        stats[split]["drops"] = dict(stats[split]["drops"])
    info = {
        "config": asdict(config),
        "train_sequences": [s.name for s in train],
        "validation_sequences": [s.name for s in val],
        "stats": stats,
    }
    (out / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info
