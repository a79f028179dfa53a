#!/usr/bin/env python3
"""Sample quality of a single-image model ("learn this photo"), measured in pixels.

    diffscope sample --weights photo-cat --n 8 --seed 1 --out cat.csv
    diffscope sample --weights photo-cat --n 3 --size 128x43 --seed 1 --out cat-wide.csv
    python3 scripts/photo_quality.py --weights assets/weights/photo-cat.safetensors \
        cat.csv [--size 128x43 cat-wide.csv …]

Each CSV holds one image per row, channel-major values in [-1, 1] (`diffscope sample
--out x.csv`). The photo is read from the weights' metadata (`dataset`: a built-in photo's
name, or give `--photo FILE`) and reduced to the size the model learned (`height`,
`width`) with PIL's box filter, an area average like diffscope's own. A CSV's images have
that size unless the `--size WxH` before it says otherwise.

Yardsticks (all distances are root-mean-square over values, in the [-1, 1] scale):

- realism: for every 7×7 patch of a sample (stride 1), the distance to its nearest 7×7
  patch of the photo; the mean over the sample's patches. The reference: the same for
  held-out crops — the photo cut into four vertical strips, each strip's patches against
  the patches of the other three (patches that straddle the strip are left out). A ratio
  of 1 means the sample's patches are as close to the photo's as unseen parts of the
  photo are to the rest of it; a copy scores 0.
- copy distance: each sample against the photo (same size only), minimised over shifts of
  up to ±4 px in both directions (the overlap only): a copy, shifted or not, scores 0.
  Printed beside it: the photo against itself shifted by 1, 2 and 4 px (the smallest over
  the directions), and by 16 px — two different parts of the same photo.
- copy correlation: the largest normalised cross-correlation (zero-mean, over the
  overlap) of a sample with the photo over the same shifts: 1 for a copy, whatever its
  contrast; the photo against itself shifted as above for scale.
- diversity: the mean distance between two samples of the same CSV.

The first row of the table is the photo itself: what the ideal denoiser's chain ends on
(it copies), 0 on realism and copying by construction.
"""

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = {
    "astronaut": "assets/images/astronaut.png",
    "camera": "assets/images/camera.png",
    "cat": "assets/images/chelsea.png",
}
PATCH = 7
MAX_SHIFT = 4


def metadata(path):
    """The safetensors header's `__metadata__`."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def load_photo(meta, override):
    channels, height, width = (int(meta[k]) for k in ("channels", "height", "width"))
    name = override or str(ROOT / BUILTIN.get(meta["dataset"], meta["dataset"]))
    img = Image.open(name).convert("L" if channels == 1 else "RGB")
    img = img.resize((width, height), Image.BOX)
    a = np.asarray(img, dtype=np.float64) / 127.5 - 1.0
    return a[:, :, None] if channels == 1 else a  # H × W × C


def load_csv(path, channels, height, width):
    rows = []
    for line in Path(path).read_text().splitlines():
        cells = line.split(",")
        try:
            values = [float(v) for v in cells]
        except ValueError:
            continue  # the header
        values = values[len(values) - channels * height * width :]
        rows.append(np.asarray(values).reshape(channels, height, width).transpose(1, 2, 0))
    if not rows:
        sys.exit(f"{path}: no images of {channels}×{height}×{width} values")
    return rows


def patches(img):
    """All 7×7 patches of an H × W × C image, one per row."""
    win = np.lib.stride_tricks.sliding_window_view(img, (PATCH, PATCH), axis=(0, 1))
    return win.reshape(-1, PATCH * PATCH * img.shape[2])


def nearest(queries, reference):
    """Distance (RMS over values) from each query row to its nearest reference row."""
    r2 = (reference**2).sum(1)
    out = []
    for chunk in np.array_split(queries, max(1, len(queries) // 2048)):
        d2 = (chunk**2).sum(1)[:, None] - 2 * chunk @ reference.T + r2[None, :]
        out.append(np.sqrt(np.maximum(d2.min(1), 0) / queries.shape[1]))
    return np.concatenate(out)


def held_out_realism(photo):
    width = photo.shape[1]
    cuts = [round(k * width / 4) for k in range(5)]
    scores = []
    for k in range(4):
        a, b = cuts[k], cuts[k + 1]
        if b - a < PATCH:
            continue
        inside = patches(photo[:, a:b])
        parts = [photo[:, : max(a, 0)], photo[:, b:]]
        rest = [patches(p) for p in parts if p.shape[1] >= PATCH]
        scores.append(nearest(inside, np.concatenate(rest)).mean())
    return float(np.mean(scores))


def shifted_distance(a, b, dy, dx):
    h, w = a.shape[:2]
    ya, yb = max(dy, 0), max(-dy, 0)
    xa, xb = max(dx, 0), max(-dx, 0)
    pa = a[ya : h - yb, xa : w - xb]
    pb = b[yb : h - ya, xb : w - xa]
    return float(np.sqrt(((pa - pb) ** 2).mean()))


def shifted_correlation(a, b, dy, dx):
    h, w = a.shape[:2]
    ya, yb = max(dy, 0), max(-dy, 0)
    xa, xb = max(dx, 0), max(-dx, 0)
    pa = a[ya : h - yb, xa : w - xb].ravel()
    pb = b[yb : h - ya, xb : w - xa].ravel()
    pa, pb = pa - pa.mean(), pb - pb.mean()
    return float(pa @ pb / max(np.sqrt((pa @ pa) * (pb @ pb)), 1e-12))


def copy_correlation(sample, photo):
    return max(
        shifted_correlation(sample, photo, dy, dx)
        for dy in range(-MAX_SHIFT, MAX_SHIFT + 1)
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1)
    )


def copy_distance(sample, photo):
    return min(
        shifted_distance(sample, photo, dy, dx)
        for dy in range(-MAX_SHIFT, MAX_SHIFT + 1)
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1)
    )


SHIFTS = lambda s: [(s, 0), (0, s), (s, s), (s, -s)]


def self_shift_floor(photo, s):
    return min(shifted_distance(photo, photo, dy, dx) for dy, dx in SHIFTS(s))


def self_shift_correlation(photo, s):
    return max(shifted_correlation(photo, photo, dy, dx) for dy, dx in SHIFTS(s))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="the single-image model's .safetensors")
    ap.add_argument("--photo", help="the photo file (default: the built-in photo the weights name)")
    ap.add_argument("items", nargs="*", help="CSVs of samples, each optionally after --size WxH")
    ap.add_argument("--size", action="append", help="WxH of the CSVs after it (default: the photo's)")
    args, _ = ap.parse_known_args()
    # The CSVs and the --size options in the order given (a size applies to what follows).
    items, argv = [], sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a in ("--weights", "--photo"):
            argv.pop(0)
        elif a.startswith(("--weights=", "--photo=")):
            continue
        elif a == "--size":
            items += [a, argv.pop(0)]
        else:
            items.append(a)
    meta = metadata(args.weights)
    if meta.get("architecture") != "patch":
        sys.exit(f"{args.weights}: not a single-image model (architecture {meta.get('architecture')})")
    photo = load_photo(meta, args.photo)
    h, w, c = photo.shape
    ref = patches(photo)
    held = held_out_realism(photo)
    print(f"photo {meta['dataset']} {w}×{h}, {c} channel(s); {len(ref)} patches of 7×7")
    print(f"held-out crops' patch distance {held:.4f}")
    for s in (1, 2, 4, 16):
        print(
            f"photo vs itself shifted {s} px: distance {self_shift_floor(photo, s):.4f}, "
            f"correlation {self_shift_correlation(photo, s):.3f}"
        )
    print(
        "| samples | size | n | patch distance | ÷ held-out | copy distance (min) | copy distance (mean) "
        "| copy correlation (max) | diversity |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| the photo itself (the ideal denoiser's end) | {w}×{h} | 1 | 0 | 0 | 0 | 0 | 1 | — |")
    size = (w, h)
    i = 0
    while i < len(items):
        if items[i] == "--size":
            size = tuple(int(v) for v in items[i + 1].lower().split("x"))
            i += 2
            continue
        path = items[i]
        i += 1
        samples = load_csv(path, c, size[1], size[0])
        real = [nearest(patches(s), ref).mean() for s in samples]
        same = size == (w, h)
        copies = [copy_distance(s, photo) for s in samples] if same else []
        corr = [copy_correlation(s, photo) for s in samples] if same else []
        pairs = [
            float(np.sqrt(((a - b) ** 2).mean())) for j, a in enumerate(samples) for b in samples[j + 1 :]
        ]
        fmt = lambda v: f"{v:.4f}" if v is not None else "—"
        print(
            f"| {Path(path).name} | {size[0]}×{size[1]} | {len(samples)} | {np.mean(real):.4f} "
            f"| {np.mean(real) / held:.2f} | {fmt(min(copies) if copies else None)} "
            f"| {fmt(float(np.mean(copies)) if copies else None)} | {fmt(max(corr) if corr else None)} "
            f"| {fmt(float(np.mean(pairs)) if pairs else None)} |"
        )


if __name__ == "__main__":
    main()
