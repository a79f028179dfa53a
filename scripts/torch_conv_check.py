#!/usr/bin/env python3
"""PyTorch re-implementation of diffscope's image denoiser (src/model/conv.rs, its module
doc), loading diffscope's weights with safetensors: prints eps-hat on fixed inputs, the
golden values of tests/model_conv.rs's check of the shipped digits model.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy safetensors
    /tmp/tv/bin/python scripts/torch_conv_check.py assets/weights/digits.safetensors

The inputs: two 8x8 images x[i, p] = sin(0.37 p + 1.3 i) (p the pixel index), at the
steps t = 20 and 700, without a class (the null label) and, for a class-conditional
file, with the labels 3 and 8.
"""

import math
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn


def emb(t: torch.Tensor, size: int = 128) -> torch.Tensor:
    half = size // 2
    f = torch.exp(-math.log(10000.0) / (half - 1) * torch.arange(half, dtype=torch.float32))
    v = t[:, None] * f[None, :]
    return torch.cat((torch.sin(v), torch.cos(v)), dim=-1)


class Block(nn.Module):
    def __init__(self, f: int, d: int):
        super().__init__()
        self.conv1 = nn.Conv2d(f, f, 3, padding=d, dilation=d)
        self.temb = nn.Linear(f, f)
        self.conv2 = nn.Conv2d(f, f, 3, padding=d, dilation=d)

    def forward(self, h, temb):
        u = F.gelu(self.conv1(F.gelu(h)) + self.temb(temb)[:, :, None, None])
        return h + self.conv2(u)


class ConvDenoiser(nn.Module):
    def __init__(self, channels=1, features=32, blocks=3, classes=0):
        super().__init__()
        self.time_mlp = nn.Linear(128, features)
        self.conv_in = nn.Conv2d(channels, features, 3, padding=1)
        self.blocks = nn.ModuleList(Block(features, 2 ** (i % 3)) for i in range(blocks))
        self.conv_out = nn.Conv2d(features, channels, 3, padding=1)
        if classes:
            self.class_emb = nn.Embedding(classes + 1, features)

    def forward(self, x, t, c=None):
        pre = self.time_mlp(emb(t))
        if hasattr(self, "class_emb"):
            if c is None:
                c = torch.full((len(t),), self.class_emb.num_embeddings - 1, dtype=torch.long)
            pre = pre + self.class_emb(c)
        temb = F.gelu(pre)
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, temb)
        return self.conv_out(F.gelu(h))


def main() -> None:
    path = sys.argv[1]
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    model = ConvDenoiser(
        channels=int(meta["channels"]),
        features=int(meta["features"]),
        blocks=int(meta["blocks"]),
        classes=int(meta.get("classes", 0)),
    )
    model.load_state_dict(load_file(path))
    h, w = int(meta["height"]), int(meta["width"])
    p = torch.arange(h * w, dtype=torch.float32)
    x = torch.stack([torch.sin(0.37 * p + 1.3 * i) for i in range(2)]).reshape(2, 1, h, w)
    torch.set_printoptions(precision=8)
    with torch.no_grad():
        for t in (20.0, 700.0):
            tt = torch.full((2,), t)
            print(t, "null", model(x, tt).reshape(2, -1)[:, ::9].tolist())
            if hasattr(model, "class_emb"):
                c = torch.tensor([3, 8])
                print(t, "labels [3, 8]", model(x, tt, c).reshape(2, -1)[:, ::9].tolist())


if __name__ == "__main__":
    main()
