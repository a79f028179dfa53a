#!/usr/bin/env python3
"""The PyTorch side of `diffscope bench train` and `diffscope bench sample`.

The same 2D denoiser (tiny-diffusion's MLP, 99,074 parameters), the same work:

- train: batch 256 of (x_t, t, eps) fixed in advance, one AdamW step per iteration
  (loss = mean squared error of eps), iterations per second;
- sample: eps-hat of 1000 points at one t per step, x_t -= 0.01 * eps-hat, point-steps
  per second.

Each figure is the median of five timed runs after a warm-up run, as diffscope's.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy safetensors
    /tmp/tv/bin/python scripts/torch_bench.py --threads 1
    /tmp/tv/bin/python scripts/torch_bench.py --threads 2
    /tmp/tv/bin/python scripts/torch_bench.py --check assets/weights/two-moons.safetensors

`--check` loads diffscope's shipped weights into this class and prints eps-hat for a few
points, to compare with diffscope's (the same numbers to ~1e-6); for a class-conditional
file (metadata `classes`), both the unconditional branch (the null label) and labels.
"""

import argparse
import math
import statistics
import time

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """emb(v) = [sin(v*scale*f_k), cos(v*scale*f_k)], f_k = exp(-ln(10000) k / (half-1))."""

    def __init__(self, size: int, scale: float = 1.0):
        super().__init__()
        self.size, self.scale = size, scale

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        half = self.size // 2
        f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
        a = (v * self.scale).unsqueeze(-1) * f.unsqueeze(0)
        return torch.cat((torch.sin(a), torch.cos(a)), dim=-1)


class Block(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.ff = nn.Linear(size, size)
        self.act = nn.GELU()  # exact (erf) GELU

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.act(self.ff(h))


class MLP(nn.Module):
    """tiny-diffusion's MLP(hidden_size=128, hidden_layers=3, emb_size=128): the
    state_dict names are diffscope's tensor names (joint_mlp.0.weight, ...)."""

    def __init__(self, hidden: int = 128, blocks: int = 3, emb: int = 128, classes: int = 0):
        super().__init__()
        self.time_mlp = SinusoidalEmbedding(emb)
        self.input_mlp1 = SinusoidalEmbedding(emb, scale=25.0)
        self.input_mlp2 = SinusoidalEmbedding(emb, scale=25.0)
        layers = [nn.Linear(3 * emb, hidden), nn.GELU()]
        layers += [Block(hidden) for _ in range(blocks)]
        layers.append(nn.Linear(hidden, 2))
        self.joint_mlp = nn.Sequential(*layers)
        if classes:  # diffscope's class-conditional models: row `classes` is the null label
            self.class_emb = nn.Embedding(classes + 1, hidden)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c=None) -> torch.Tensor:
        e = torch.cat((self.input_mlp1(x[:, 0]), self.input_mlp2(x[:, 1]), self.time_mlp(t)), dim=-1)
        if not hasattr(self, "class_emb"):
            return self.joint_mlp(e)
        if c is None:
            c = torch.full((len(x),), self.class_emb.num_embeddings - 1, dtype=torch.long)
        h = self.joint_mlp[0](e) + self.class_emb(c)
        return self.joint_mlp[1:](h)


def median_rate(run, repeats: int = 5) -> float:
    run()  # warm-up
    rates = []
    for _ in range(repeats):
        rates.append(run())
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check", metavar="WEIGHTS")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = MLP()
    if args.check:
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(args.check, "pt") as f:
            classes = int((f.metadata() or {}).get("classes", 0))
        model = MLP(classes=classes)
        model.load_state_dict(load_file(args.check))
        x = torch.tensor([[0.5, -0.25], [1.0, 1.0], [-1.5, 0.3]])
        with torch.no_grad():
            for t in (1.0, 250.0, 1000.0):
                print(t, model(x, torch.full((3,), t)).tolist())
            if classes:
                c = torch.tensor([0, 1, classes - 1])
                for t in (1.0, 250.0, 1000.0):
                    print(t, "labels", c.tolist(), model(x, torch.full((3,), t), c).tolist())
        return
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 99_074, n_params

    batch = 256
    xt, eps = torch.randn(batch, 2), torch.randn(batch, 2)
    t = torch.tensor([float(1 + i * 997 % 1000) for i in range(batch)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train(iters: int = 200) -> float:
        start = time.perf_counter()
        for _ in range(iters):
            loss = nn.functional.mse_loss(model(xt, t), eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return iters / (time.perf_counter() - start)

    points = 1000

    def sample(steps: int = 200) -> float:
        x = torch.randn(points, 2)
        start = time.perf_counter()
        with torch.no_grad():
            for s in range(steps):
                e = model(x, torch.full((points,), float(1000 - s)))
                x -= 0.01 * e
        return points * steps / (time.perf_counter() - start)

    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    print(f"train, batch {batch}: {median_rate(train):.0f} it/s")
    print(f"sample, {points} points: {median_rate(sample) / 1e6:.3f} M point-steps/s")


if __name__ == "__main__":
    main()
