#!/usr/bin/env python3
"""Sample quality of an 8×8 digits model, measured with features no one here wrote.

    diffscope sample --weights digits --n 1000 --seed 1 --out samples.csv
    python3 scripts/digits_quality.py samples.csv [more.csv …]

    diffscope sample --weights glyphs --n 1000 --seed 1 --out samples.csv
    python3 scripts/digits_quality.py --glyphs target/release/diffscope samples.csv

With `--glyphs BIN` the same yardsticks are of the 28×28 glyph digits (784 values per
row): the real data are 2000 glyphs that BIN renders (`diffscope data --glyphs`) with a
seed no model was trained on, split as below into a reference and a held-out half.

Each CSV holds one image per row: 64 pixel values in [-1, 1] (row-major, the app's
`x = v/8 − 1` of the 0..16 digits), after an optional header line; the first column may
be a `label` (the class a conditional model was asked for).

The yardsticks, all against the real digits as scikit-learn ships them (`load_digits`,
the same 1797 images the app embeds), split once with a fixed seed into a reference half
and a held-out half:

- k-NN precision and recall in pixel space, k = 3 (Kynkäänniemi et al. 2019): precision is
  the share of samples inside the k-NN ball of some reference digit, recall the share of
  reference digits inside the k-NN ball of some sample. The samples are cut to as many as
  the held-out digits, so both rows are measured at one set size.
- An MLP classifier (scikit-learn, one hidden layer of 128 ReLUs) trained on the reference
  half: the mean top-class probability of the samples, and, for labelled rows, the share
  the classifier labels as asked.
- The Fréchet distance between Gaussians fitted to the classifier's hidden features of
  the samples and of the reference half, as a ratio to the same distance for the
  held-out half (1.0: as close as real unseen digits).

The first row of the table is the held-out real digits themselves: the ceiling.
"""

import argparse
import io
import subprocess
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import pairwise_distances
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.neural_network import MLPClassifier

K = 3
SEED = 0
# The glyph digits' real data: 2000 of a seed no model trains on (train uses seed 1),
# so that 1000 samples meet 1000 held-out glyphs.
GLYPHS = 2000
GLYPH_SEED = 7


def knn_radii(x):
    """Distance from each row of x to its k-th nearest other row."""
    nn = NearestNeighbors(n_neighbors=K + 1).fit(x)
    d, _ = nn.kneighbors(x)
    return d[:, K]


def coverage(points, centres, radii):
    """Share of `points` inside at least one ball (centres[j], radii[j])."""
    d = pairwise_distances(points, centres)  # chunked inside: 784-value rows stay small
    return float((d <= radii[None, :]).any(axis=1).mean())


def precision_recall(real, fake):
    return (
        coverage(fake, real, knn_radii(real)),
        coverage(real, fake, knn_radii(fake)),
    )


def features(clf, x):
    return np.maximum(x @ clf.coefs_[0] + clf.intercepts_[0], 0.0)


def psd_sqrt(c):
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet(a, b):
    """‖μ_a − μ_b‖² + tr(C_a + C_b − 2 (C_a^½ C_b C_a^½)^½), by symmetric eigensolves
    (the ReLU features have dead units, so the covariances are singular)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    s = psd_sqrt(ca)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s @ cb @ s), 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2.0 * cross)


def read_samples(path, dim):
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            cells = line.split(",")
            try:
                values = [float(c) for c in cells]
            except ValueError:
                if line_no == 1:
                    continue  # header
                sys.exit(f"{path}:{line_no}: not a number in '{line[:40]}'")
            if len(values) not in (dim, dim + 1):
                sys.exit(f"{path}:{line_no}: {len(values)} values, expected {dim} (or a label and {dim})")
            rows.append(values)
    a = np.array(rows, dtype=np.float64)
    if a.shape[1] == dim + 1:
        return a[:, 1:], a[:, 0].astype(int)
    return a, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("samples", nargs="+", help="CSV files of samples")
    parser.add_argument("--glyphs", metavar="BIN", help="the 28×28 glyph digits, rendered by this diffscope binary")
    args = parser.parse_args()

    if args.glyphs:
        out = subprocess.run(
            [args.glyphs, "data", "--glyphs", "--n", str(GLYPHS), "--seed", str(GLYPH_SEED), "--csv", "-"],
            check=True, capture_output=True, text=True,
        ).stdout
        table = np.loadtxt(io.StringIO(out), delimiter=",", skiprows=1)
        x, y, dim, what = table[:, 1:], table[:, 0].astype(int), 784, "glyph digits"
    else:
        digits = load_digits()
        x, y, dim, what = digits.data / 8.0 - 1.0, digits.target, 64, "digits"
    x_ref, x_held, y_ref, y_held = train_test_split(
        x, y, test_size=0.5, random_state=SEED, stratify=y
    )
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=2000, random_state=SEED)
    clf.fit(x_ref, y_ref)
    f_ref = features(clf, x_ref)
    fd_held = frechet(features(clf, x_held), f_ref)
    n = len(x_held)

    def row(name, s, labels):
        s = np.clip(s, -1.0, 1.0)[:n]
        p, r = precision_recall(x_ref, s)
        proba = clf.predict_proba(s)
        conf = proba.max(1).mean()
        fd = frechet(features(clf, s), f_ref) / fd_held
        asked = ""
        if labels is not None:
            asked = f"{(proba.argmax(1) == labels[:n]).mean():.3f}"
        print(f"| {name} | {len(s)} | {p:.3f} | {r:.3f} | {conf:.3f} | {fd:.2f} | {asked} |")

    print(f"classifier accuracy on the held-out {what}: {clf.score(x_held, y_held):.3f}")
    print("| samples | n | precision | recall | top-class prob. | FD ratio | as asked |")
    print("|---|---|---|---|---|---|---|")
    row(f"real held-out {what}", x_held, y_held)
    for path in args.samples:
        s, labels = read_samples(path, dim)
        if len(s) < n:
            print(f"warning: {path} has {len(s)} samples, fewer than the {n} held-out {what}", file=sys.stderr)
        row(path, s, labels)


if __name__ == "__main__":
    main()
