"""How well can a vision tower of nano's kind find the target, with no language model? (nano.md,
experiment 13.) A stock Qwen2.5-VL vision tower (merge 8: one token per 112 px crop) and a small
MLP head regress the search box from the template and search tokens, on pairs cut from photographs:
targets and look-alikes are photo patches pasted on a photo background, moved, rescaled, relit and
blurred between the two frames. Every 4th photograph (sorted by path) is held out for the pairs
the held-out mean IoU is measured on.

    python benchmarks/nano_tower_proxy.py --photos .cache/photos/train --layout separate \
        --hidden 32 --depth 4 --heads 2 --full 3 --steps 1500

`--layout joint` pastes template and search side by side into one 224 x 112 image, so that the
tower's full-attention blocks see both (two tokens); `separate` gives it two images, as nano has.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from transformers import Qwen2VLImageProcessorPil
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import (
    Qwen2_5_VisionTransformerPretrainedModel,
)

S = 112  # crop side


def load_photos(paths, side=512):
    out = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        f = side / min(im.size)
        im = im.resize(
            (max(side, round(im.width * f)), max(side, round(im.height * f))), Image.BILINEAR
        )
        out.append(np.asarray(im))
    return out


def rand_patch(rng, photos, w, h):
    ph = photos[rng.integers(len(photos))]
    H, W = ph.shape[:2]
    # patch drawn from a region then resized (scale diversity)
    z = rng.uniform(0.5, 2.0)
    pw, ph_ = max(4, int(w * z)), max(4, int(h * z))
    pw, ph_ = min(pw, W), min(ph_, H)
    x, y = rng.integers(0, W - pw + 1), rng.integers(0, H - ph_ + 1)
    return np.asarray(Image.fromarray(ph[y : y + ph_, x : x + pw]).resize((w, h), Image.BILINEAR))


def mask_of(rng, kind, w, h):
    ys, xs = np.mgrid[0:h, 0:w]
    u, v = (xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1
    if kind == 0:
        return np.ones((h, w), bool)
    if kind == 1:
        return u**2 + v**2 <= 1
    if kind == 2:
        return np.abs(u) + np.abs(v) <= 1
    # blob: radius varies with angle
    a = np.arctan2(v, u)
    r = 0.75 + 0.25 * np.sin(a * rng.integers(2, 5) + rng.uniform(0, 6))
    return np.sqrt(u**2 + v**2) <= r


def background(rng, photos):
    """A 384 px square region of a random photograph."""
    bg = photos[rng.integers(len(photos))]
    H, W = bg.shape[:2]
    side = 384
    x, y = rng.integers(0, W - side + 1), rng.integers(0, H - side + 1)
    return bg[y : y + side, x : x + side]


def make_pair(rng, photos):
    side = 384
    bg = background(rng, photos).astype(np.float32)
    tw, th = int(side * rng.uniform(0.07, 0.2)), int(side * rng.uniform(0.07, 0.2))
    objs = []
    tex = rand_patch(rng, photos, tw, th).astype(np.float32)
    objs.append([tex, mask_of(rng, rng.integers(4), tw, th)])
    for _ in range(rng.integers(0, 4)):
        if rng.random() < 0.5:  # look-alike: same texture, colour shift
            t2 = np.clip(tex * rng.uniform(0.8, 1.2) + rng.uniform(-25, 25, 3), 0, 255)
            m2 = objs[0][1]
        else:
            t2 = rand_patch(rng, photos, tw, th).astype(np.float32)
            m2 = mask_of(rng, rng.integers(4), tw, th)
        objs.append([t2, m2])
    pos1 = [rng.uniform(0.3, 0.7, 2) * side for _ in objs]
    # frame 2: motion, scale, pan, light
    mv = [p + rng.normal(0, 1, 2) * math.sqrt(tw * th) * 0.35 for p in pos1]
    sc = rng.uniform(0.8, 1.25)
    pan = rng.normal(0, 6, 2)

    def render(pos, s, shift, gain, blur):
        c = np.roll(bg, (int(shift[1]), int(shift[0])), (0, 1)).copy()
        boxes = []
        for (t, m), p in zip(objs[::-1], pos[::-1], strict=True):
            w, h = max(4, round(t.shape[1] * s)), max(4, round(t.shape[0] * s))
            tt = np.asarray(
                Image.fromarray(t.astype(np.uint8)).resize((w, h), Image.BILINEAR), np.float32
            )
            mm = np.asarray(Image.fromarray(m).resize((w, h), Image.NEAREST))
            x0, y0 = round(p[0] - w / 2), round(p[1] - h / 2)
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(side, x0 + w), min(side, y0 + h)
            if cx1 > cx0 and cy1 > cy0:
                sub = mm[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
                c[cy0:cy1, cx0:cx1][sub] = tt[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][sub]
            boxes.append((x0, y0, w, h))
        im = Image.fromarray(np.clip(c * gain, 0, 255).astype(np.uint8))
        if blur > 0:
            im = im.filter(ImageFilter.GaussianBlur(blur))
        return im, boxes[-1]

    im1, b1 = render(pos1, 1.0, (0, 0), 1.0, 0)
    im2, b2 = render(mv, sc, pan, rng.uniform(0.75, 1.25), float(rng.choice([0, 0, 0.8, 1.5])))
    b2 = (b2[0] + 0, b2[1] + 0, b2[2], b2[3])

    def crop(im, cx, cy, sz):
        sz = math.ceil(sz)
        x0, y0 = round(cx - sz / 2), round(cy - sz / 2)
        return im.crop((x0, y0, x0 + sz, y0 + sz)).resize((S, S), Image.BILINEAR), x0, y0, sz

    cx1, cy1 = b1[0] + b1[2] / 2, b1[1] + b1[3] / 2
    tmpl, *_ = crop(im1, cx1, cy1, math.sqrt(b1[2] * b1[3]) * 3)
    # search: centred on frame-1 box (+ jitter), context U(2.25, 4) of the frame-1 size
    ctx = rng.uniform(2.25, 4)
    side_s = math.sqrt(b1[2] * b1[3]) * ctx
    jx, jy = rng.uniform(-0.15, 0.15, 2) * side_s
    srch, x0, y0, sz = crop(im2, cx1 + jx, cy1 + jy, side_s)
    f = S / sz
    box = (
        np.array(
            [(b2[0] - x0) * f, (b2[1] - y0) * f, (b2[0] + b2[2] - x0) * f, (b2[1] + b2[3] - y0) * f]
        )
        / S
    )
    return tmpl, srch, np.clip(box, 0, 1)


def make_set(seed, photos, n):
    rng = np.random.default_rng(seed)
    return [make_pair(rng, photos) for _ in range(n)]


def pixels(proc, ims):
    b = proc(images=ims, return_tensors="pt")
    return b["pixel_values"], b["image_grid_thw"]


def iou(a, b):
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 2], b[:, 2])
    y2 = np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)

    def ar(z):
        return np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)

    return inter / (ar(a) + ar(b) - inter + 1e-9)


class Net(torch.nn.Module):
    def __init__(self, joint, hidden, depth, heads, full, merge=8, head="mlp"):
        super().__init__()
        cfg = Qwen2_5_VLVisionConfig(
            depth=depth,
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_heads=heads,
            out_hidden_size=256,
            patch_size=14,
            spatial_merge_size=merge,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=full,
        )
        self.v = Qwen2_5_VisionTransformerPretrainedModel._from_config(cfg)
        self.joint = joint
        self.kind = head
        tokens = 2 * (S // 14 // merge) ** 2  # per pair, template and search
        if head == "mlp":
            self.head = torch.nn.Sequential(
                torch.nn.Linear(256 * tokens, 256), torch.nn.GELU(), torch.nn.Linear(256, 4)
            )
        else:  # a 4-layer, 256-wide transformer over the pair's tokens and one readout: nano's LM
            self.pos = torch.nn.Parameter(torch.randn(tokens + 1, 256) * 0.02)
            layer = torch.nn.TransformerEncoderLayer(256, 4, 512, 0.0, batch_first=True)
            self.head = torch.nn.TransformerEncoder(layer, 4)
            self.out = torch.nn.Linear(256, 4)

    def forward(self, px, grid, n):
        tok = self.v(px, grid_thw=grid).pooler_output.reshape(n, -1, 256)
        if self.kind == "mlp":
            return torch.sigmoid(self.head(tok.reshape(n, -1)))
        x = torch.cat([torch.zeros_like(tok[:, :1]), tok], 1) + self.pos
        return torch.sigmoid(self.out(self.head(x)[:, 0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, help="a folder of photographs")
    parser.add_argument("--layout", choices=("separate", "joint"), default="separate")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--full", default="3", help="full-attention blocks, comma separated")
    parser.add_argument(
        "--merge",
        type=int,
        default=8,
        choices=(2, 4, 8),
        help="spatial merge: 8 = one token per 112 px crop, 4 = 4, 2 = 16",
    )
    parser.add_argument(
        "--head",
        choices=("mlp", "attn"),
        default="mlp",
        help="attn: a 4-layer transformer over all tokens (nano's LM's size)",
    )
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--pairs", type=int, default=12000, help="training pairs (fixed set)")
    parser.add_argument("--cache", default=".cache/tower-proxy", help="pairs are kept here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    paths = sorted(p for p in Path(args.photos).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    train_photos = load_photos([p for i, p in enumerate(paths) if i % 4 != 0])
    held_photos = load_photos([p for i, p in enumerate(paths) if i % 4 == 0])
    proc = Qwen2VLImageProcessorPil.from_pretrained("src/r1track/models/nano")
    proc.merge_size = args.merge  # pixel_values are laid out in merge groups
    cache = Path(args.cache) / f"pairs_{args.pairs}.pt"
    if cache.is_file():
        data = torch.load(cache)
    else:

        def pack(pairs):
            templates = torch.from_numpy(np.stack([np.asarray(t) for t, _, _ in pairs]))
            searches = torch.from_numpy(np.stack([np.asarray(s) for _, s, _ in pairs]))
            boxes = torch.tensor(np.stack([b for *_, b in pairs]), dtype=torch.float32)
            return templates, searches, boxes

        data = {
            "tr": pack(make_set(1, train_photos, args.pairs)),
            "he": pack(make_set(2, held_photos, 800)),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(data, cache)
    joint = args.layout == "joint"
    torch.manual_seed(0)
    full = [int(x) for x in args.full.split(",")]
    net = Net(joint, args.hidden, args.depth, args.heads, full, args.merge, args.head)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=1e-3, total_steps=args.steps, pct_start=0.05
    )

    def batch_pixels(templates, searches, idx):
        if joint:
            images = [
                Image.fromarray(np.concatenate([templates[i].numpy(), searches[i].numpy()], 1))
                for i in idx
            ]
        else:
            images = []
            for i in idx:
                images += [
                    Image.fromarray(templates[i].numpy()),
                    Image.fromarray(searches[i].numpy()),
                ]
        return pixels(proc, images)

    def evaluate():
        templates, searches, boxes = data["he"]
        preds = []
        with torch.no_grad():
            for k in range(0, len(boxes), 100):
                idx = range(k, min(len(boxes), k + 100))
                px, grid = batch_pixels(templates, searches, idx)
                preds.append(net(px, grid, len(idx)).numpy())
        return iou(np.concatenate(preds), boxes.numpy()).mean()

    templates, searches, boxes = data["tr"]
    rng = np.random.default_rng(0)
    bs = 64
    t0 = time.time()
    name = f"{args.layout} hidden {args.hidden} depth {args.depth} merge {args.merge} {args.head}"
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, len(boxes), bs)
        px, grid = batch_pixels(templates, searches, idx)
        loss = (net(px, grid, bs) - boxes[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps:
            print(
                f"{name} step {step} loss {loss.item():.4f} held-out mIoU {evaluate():.3f} "
                f"{time.time() - t0:.0f} s",
                flush=True,
            )
    held = data["he"][2].numpy()  # the mean box for every pair: what ignoring the images gets
    print("mean-box mIoU", round(float(iou(np.tile(held.mean(0), (len(held), 1)), held).mean()), 3))


if __name__ == "__main__":
    main()
