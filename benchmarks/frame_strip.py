"""A strip of evenly spaced frames from a video (the README's picture of the demo's real output).

python benchmarks/frame_strip.py demo_out/overlay.mp4 assets/demo-strip.png --frames 6
"""

from __future__ import annotations

import argparse

from PIL import Image

from r1track.video import open_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--height", type=int, default=144, help="height of each frame in the strip")
    args = parser.parse_args()
    frames = list(open_frames(args.video))
    step = (len(frames) - 1) / max(1, args.frames - 1)
    chosen = [frames[round(i * step)] for i in range(args.frames)]
    width = round(chosen[0].width * args.height / chosen[0].height)
    strip = Image.new("RGB", (width * len(chosen) + 4 * (len(chosen) - 1), args.height), "white")
    for i, frame in enumerate(chosen):
        strip.paste(frame.resize((width, args.height)), (i * (width + 4), 0))
    strip.save(args.out)
    print(f"wrote {args.out}: frames {[round(i * step) for i in range(args.frames)]}")


if __name__ == "__main__":
    main()
