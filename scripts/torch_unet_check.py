#!/usr/bin/env python3
"""PyTorch re-implementation of diffscope's U-Net (src/model/unet.rs, its module doc),
loading diffscope's weights with safetensors: prints eps-hat on fixed inputs, the golden
values of tests/model_unet.rs's check of the shipped glyph-digits model.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy safetensors
    /tmp/tv/bin/python scripts/torch_unet_check.py assets/weights/glyphs.safetensors

The inputs: two 28x28 images x[i, p] = sin(0.37 p + 1.3 i) (p the pixel index), at the
steps t = 20 and 700, without a class (the null label) and, for a class-conditional
file, with the labels 3 and 8; every 97th value of each image is printed.
"""

import math
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn


def shortest(eps: torch.Tensor) -> list:
    """Every 97th value of each image, as the shortest decimals that give the same f32
    (numpy's repr of float32), so the golden literals pass clippy's excessive_precision."""
    rows = eps.reshape(eps.shape[0], -1)[:, ::97].numpy()
    return [[float(repr(v).removeprefix("np.float32(").removesuffix(")")) for v in row] for row in rows]


def emb(t: torch.Tensor, size: int = 128) -> torch.Tensor:
    half = size // 2
    f = torch.exp(-math.log(10000.0) / (half - 1) * torch.arange(half, dtype=torch.float32))
    v = t[:, None] * f[None, :]
    return torch.cat((torch.sin(v), torch.cos(v)), dim=-1)


class Block(nn.Module):
    def __init__(self, c: int, e: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.temb = nn.Linear(e, c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, h, temb):
        u = F.gelu(self.conv1(F.gelu(h)) + self.temb(temb)[:, :, None, None])
        return h + self.conv2(u)


def lin(layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution by an nn.Linear, on NCHW."""
    return layer(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class UNet(nn.Module):
    def __init__(self, channels=1, features=24, mid_blocks=2, classes=0):
        super().__init__()
        c, f, e = channels, features, 2 * features
        self.time_mlp = nn.Linear(128, e)
        self.conv_in = nn.Conv2d(4 * c, f, 3, padding=1)
        self.down = Block(f, e)
        self.down_proj = nn.Linear(4 * f, 2 * f)
        self.mid = nn.ModuleList(Block(2 * f, e) for _ in range(mid_blocks))
        self.up_proj = nn.Linear(2 * f, 4 * f)
        self.merge = nn.Linear(2 * f, f)
        self.up = Block(f, e)
        self.conv_out = nn.Conv2d(f, 4 * c, 3, padding=1)
        if classes:
            self.class_emb = nn.Embedding(classes + 1, e)

    def forward(self, x, t, c=None):
        pre = self.time_mlp(emb(t))
        if hasattr(self, "class_emb"):
            if c is None:
                c = torch.full((len(t),), self.class_emb.num_embeddings - 1, dtype=torch.long)
            pre = pre + self.class_emb(c)
        temb = F.gelu(pre)
        s = self.down(self.conv_in(F.pixel_unshuffle(x, 2)), temb)
        m = lin(self.down_proj, F.pixel_unshuffle(s, 2))
        for block in self.mid:
            m = block(m, temb)
        u = F.pixel_shuffle(lin(self.up_proj, m), 2)
        u = self.up(lin(self.merge, torch.cat((u, s), 1)), temb)
        return F.pixel_shuffle(self.conv_out(F.gelu(u)), 2)


def main() -> None:
    path = sys.argv[1]
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    model = UNet(
        channels=int(meta["channels"]),
        features=int(meta["features"]),
        mid_blocks=int(meta["mid_blocks"]),
        classes=int(meta.get("classes", 0)),
    )
    model.load_state_dict(load_file(path))
    h, w = int(meta["height"]), int(meta["width"])
    p = torch.arange(h * w, dtype=torch.float32)
    x = torch.stack([torch.sin(0.37 * p + 1.3 * i) for i in range(2)]).reshape(2, 1, h, w)
    with torch.no_grad():
        for t in (20.0, 700.0):
            tt = torch.full((2,), t)
            print(t, "null", shortest(model(x, tt)))
            if hasattr(model, "class_emb"):
                c = torch.tensor([3, 8])
                print(t, "labels [3, 8]", shortest(model(x, tt, c)))


if __name__ == "__main__":
    main()
