"""Pseudo-labelled tracks from a static-camera video (benchmarks/nano.md, experiment 15).

A classical teacher labels real video that has no ground truth: the median of the frames is the
background, what differs from it by more than `--threshold` is foreground, its connected parts are
boxes, and boxes linked frame to frame by overlap are tracks. A track ends where its box cannot be
matched, or where its area jumps (two people merging into one blob), and is kept only if it is
long, upright (`--min-aspect`, height / width) and tall enough. Tracks are cut into chunks of
`--chunk` frames and written in the GOT-10k layout, one sequence per chunk; tracks that start at
or after `--val-from` go to `val`, the rest (cut to end `--gap` frames before it) to `train`, so
the two splits share no moment of the video.

`--init X,Y,W,H` instead (a moving camera, or one object held in the hand): OpenCV's CSRT tracks the
object from that box on frame 0 (`--frames A:B`: over those frames only, the span a contact sheet
showed it right; `--object` names it), and its boxes are the one track.

    python benchmarks/pseudo_tracks.py --video vtest.avi --out .cache/videos/vtest
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from r1track.datasets import got10k
from r1track.geometry import iou_xyxy, xywh_to_xyxy


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def foreground_boxes(frames, threshold: float, min_area: int) -> list[np.ndarray]:
    """Per frame, `[x, y, w, h]` of each foreground blob against the median background."""
    background = np.median(np.stack(frames[::4]), axis=0).astype(np.int16)
    open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    close_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 11))
    out = []
    for frame in frames:
        diff = np.abs(frame.astype(np.int16) - background).max(axis=2)
        mask = (diff > threshold).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, open_kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close_kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = [stats[k, :4] for k in range(1, count) if stats[k, 4] >= min_area]
        out.append(np.array(boxes, dtype=float).reshape(-1, 4))
    return out


def link(per_frame: list[np.ndarray], min_iou: float, max_jump: float) -> list[tuple[int, list]]:
    """Greedy frame-to-frame linking: returns (first frame, boxes) per track."""
    active: list[tuple[int, list]] = []
    done: list[tuple[int, list]] = []
    for t, boxes in enumerate(per_frame):
        taken: set[int] = set()
        still = []
        for start, track in active:
            last = track[-1]
            scores = [
                (float(iou_xyxy(xywh_to_xyxy(last), xywh_to_xyxy(box))), k)
                for k, box in enumerate(boxes)
                if k not in taken
            ]
            score, k = max(scores, default=(0.0, -1))
            if score >= min_iou:
                area = np.median([b[2] * b[3] for b in track[-5:]])
                ratio = boxes[k][2] * boxes[k][3] / max(area, 1.0)
                if 1 / max_jump <= ratio <= max_jump:
                    taken.add(k)
                    track.append(boxes[k])
                    still.append((start, track))
                    continue
            done.append((start, track))
        for k, box in enumerate(boxes):
            if k not in taken:
                still.append((t, [box]))
        active = still
    return done + active


def smooth(boxes: np.ndarray, width: int) -> np.ndarray:
    corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    pad = width // 2
    padded = np.pad(corners, ((pad, pad), (0, 0)), mode="edge")
    kernel = np.ones(width) / width
    out = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(4)], axis=1)
    return np.concatenate([out[:, :2], out[:, 2:] - out[:, :2]], axis=1)


def teacher_track(frames, init: tuple[float, ...]) -> np.ndarray:
    """OpenCV CSRT's boxes `[x, y, w, h]` from `init` on the first of `frames`."""
    tracker = cv2.TrackerCSRT_create()
    tracker.init(cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR), tuple(int(v) for v in init))
    boxes = [np.array(init, dtype=float)]
    for frame in frames[1:]:
        ok, box = tracker.update(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        boxes.append(np.array(box, dtype=float) if ok else boxes[-1])
    return np.array(boxes)


def write_chunk(folder: Path, images: list, boxes: np.ndarray, what: str = "person") -> None:
    n = len(boxes)
    got10k.write_sequence(
        folder,
        images,
        boxes,
        np.full(n, 8),
        np.zeros(n, dtype=int),
        np.zeros(n, dtype=int),
        meta={"object_class": what},
        description=f"the {what}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="GOT-10k root to write")
    parser.add_argument("--name", default="", help="sequence name prefix (default: video stem)")
    parser.add_argument("--threshold", type=float, default=30.0)
    parser.add_argument("--min-area", type=int, default=150)
    parser.add_argument("--min-iou", type=float, default=0.4)
    parser.add_argument("--max-jump", type=float, default=1.5)
    parser.add_argument("--min-aspect", type=float, default=1.5)
    parser.add_argument("--min-height", type=float, default=28.0)
    parser.add_argument("--min-length", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=60)
    parser.add_argument("--smooth", type=int, default=5)
    parser.add_argument("--val-from", type=int, default=600, help="first frame of the val split")
    parser.add_argument("--gap", type=int, default=20)
    parser.add_argument(
        "--augment",
        action="store_true",
        help="train split: also write each chunk mirrored, reversed in time, and both",
    )
    parser.add_argument("--init", help="X,Y,W,H on the first frame: CSRT is the teacher")
    parser.add_argument("--frames", default=":", help="with --init: the frames A:B to use")
    parser.add_argument("--object", default="person", help="what is tracked (its description)")
    args = parser.parse_args(argv)
    if not args.video.is_file():
        parser.error(f"--video {args.video}: no such file")
    frames = read_frames(args.video)
    if args.init:
        low, _, high = args.frames.partition(":")
        frames = frames[int(low or 0) : int(high) if high else None]
        init = tuple(float(v) for v in args.init.split(","))
        tracks = [(0, list(teacher_track(frames, init)))]
        # the one track is all train, whatever its shape and length
        args.min_aspect, args.min_height = 0.0, 0.0
        args.val_from = len(frames) + args.gap
    else:
        per_frame = foreground_boxes(frames, args.threshold, args.min_area)
        tracks = link(per_frame, args.min_iou, args.max_jump)
    prefix = args.name or args.video.stem
    names: dict[str, list[str]] = {"train": [], "val": []}
    for start, track in sorted(tracks, key=lambda item: item[0]):
        boxes = np.array(track)
        if start >= args.val_from:
            split = "val"
        else:
            split = "train"
            boxes = boxes[: max(0, args.val_from - args.gap - start)]
        if len(boxes) < args.min_length:
            continue
        aspect = np.median(boxes[:, 3] / boxes[:, 2])
        if aspect < args.min_aspect or np.median(boxes[:, 3]) < args.min_height:
            continue
        boxes = smooth(boxes, args.smooth)
        for c0 in range(0, len(boxes), args.chunk):
            part = boxes[c0 : c0 + args.chunk]
            if len(part) < args.min_length:
                continue
            first = start + c0
            images = [Image.fromarray(frames[first + k]) for k in range(len(part))]
            variants = [("", images, part)]
            if args.augment and split == "train":
                width = images[0].width
                mirrored = part.copy()
                mirrored[:, 0] = width - part[:, 0] - part[:, 2]
                flipped = [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in images]
                variants += [
                    ("m", flipped, mirrored),
                    ("r", images[::-1], part[::-1]),
                    ("mr", flipped[::-1], mirrored[::-1]),
                ]
            for tag, seq_images, seq_boxes in variants:
                name = f"{prefix}_{first:05d}{tag}_{len(names[split]):03d}"
                write_chunk(args.out / split / name, seq_images, seq_boxes, args.object)
                names[split].append(name)
    for split, split_names in names.items():
        (args.out / split).mkdir(parents=True, exist_ok=True)
        (args.out / split / "list.txt").write_text("".join(f"{n}\n" for n in split_names))
    kept = sum(len(v) for v in names.values())
    print(
        f"{args.video.name}: {len(frames)} frames, {len(tracks)} linked tracks, {kept} chunks "
        f"(train {len(names['train'])}, val {len(names['val'])}) in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
