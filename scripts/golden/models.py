#!/usr/bin/python3
"""Whole-model golden data: ConvNeXt checkpoints in timm's naming with the
logits PyTorch computes for a random batch.

Run from the repository root with the system Python that has PyTorch 1.13:

    /usr/bin/python3 scripts/golden/models.py

It writes models/testdata/golden/<name>.safetensors for convnextv2_atto and
convnext_atto (timm's V1 atto), each with 10 classes: every parameter under
timm's state-dict name and shape (conv_mlp=True models store the MLP as 1x1
convolutions (E, C, 1, 1); GRN weight/bias are (E,)), plus `x`, a batch
[2, 3, 64, 64] in PyTorch's NCHW layout, and `logits` [2, 10].

The models are the official architectures (facebookresearch/ConvNeXt-V2
models/convnextv2.py and facebookresearch/ConvNeXt models/convnext.py),
written out here so that only torch is needed; their state dicts are renamed
to timm's with the rules of timm's checkpoint_filter_fn (docs/CONVNEXTV2.md §2.3).
Weights are random and non-trivial (GRN gamma/beta and layer scales too) and
stored as F16 to keep the files small; the logits are computed in float64
from exactly the stored (F16-rounded) weights and the F32 input, then stored
as F32. The Go test loads each file with models.Load, runs the model on `x`
and compares logits (rtol 1e-4).
"""

import json
import os
import re
import struct

import torch
import torch.nn as nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "testdata", "golden")


class LayerNorm2d(nn.Module):
    """The official channels_first LayerNorm (eps 1e-6)."""

    def __init__(self, c):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + 1e-6)) + self.bias[:, None, None]


class GRN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gamma, self.beta = nn.Parameter(torch.zeros(1, 1, 1, c)), nn.Parameter(torch.zeros(1, 1, 1, c))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    """Official V2 block (grn) or V1 block (layer scale gamma)."""

    def __init__(self, c, v2):
        super().__init__()
        self.v2 = v2
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c)
        if v2:
            self.grn = GRN(4 * c)
        else:
            self.gamma = nn.Parameter(1e-6 * torch.ones(c))

    def forward(self, x):
        y = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        y = self.act(self.pwconv1(y))
        if self.v2:
            y = self.grn(y)
        y = self.pwconv2(y)
        if not self.v2:
            y = self.gamma * y
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """The official ConvNeXt V2 (v2) or V1 model; in_chans and the stem's
    patch size are options for small inputs (scripts/bench uses them)."""

    def __init__(self, depths, dims, classes, v2, in_chans=3, stem=4):
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(nn.Conv2d(in_chans, dims[0], stem, stem), LayerNorm2d(dims[0]))])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList([nn.Sequential(*[Block(d, v2) for _ in range(n)]) for n, d in zip(depths, dims)])
        self.norm, self.head = nn.LayerNorm(dims[-1], eps=1e-6), nn.Linear(dims[-1], classes)

    def forward(self, x):
        for d, s in zip(self.downsample_layers, self.stages):
            x = s(d(x))
        return self.head(self.norm(x.mean([-2, -1])))


def to_timm(key, value, conv_mlp):
    """timm's checkpoint_filter_fn renaming (docs/CONVNEXTV2.md §2.3)."""
    key = key.replace("downsample_layers.0.", "stem.")
    key = re.sub(r"stages.([0-9]+).([0-9]+)", r"stages.\1.blocks.\2", key)
    key = re.sub(r"downsample_layers.([0-9]+).([0-9]+)", r"stages.\1.downsample.\2", key)
    key = key.replace("dwconv", "conv_dw").replace("pwconv", "mlp.fc")
    if "grn" in key:
        key = key.replace("grn.beta", "mlp.grn.bias").replace("grn.gamma", "mlp.grn.weight")
        value = value.reshape(value.shape[-1])
    key = key.replace("head.", "head.fc.")
    if key.startswith("norm."):
        key = key.replace("norm", "head.norm")
    if conv_mlp and value.ndim == 2 and "head" not in key:
        value = value.reshape(value.shape[0], value.shape[1], 1, 1)
    return key, value


def write(path, tensors, meta):
    """Writes (name, tensor, dtype) triples, dtype "F16" or "F32", as safetensors."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t, dtype in tensors:
        t = t.detach().contiguous()
        data = (t.to(torch.float16) if dtype == "F16" else t.to(torch.float32)).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(name, depths, dims, v2, seed):
    torch.manual_seed(seed)
    model = ConvNeXt(depths, dims, 10, v2).double()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.ndim == 1 or "grn" in pname or pname.endswith("gamma"):
                p.copy_(0.5 * torch.randn_like(p) + (1.0 if pname.endswith("norm.weight") else 0.0))
            else:
                p.copy_(0.05 * torch.randn_like(p))
            p.copy_(p.to(torch.float16).double())  # the stored weights exactly
        x = torch.randn(2, 3, 64, 64).float().double()
        logits = model(x)
    tensors = [(*to_timm(k, v, True), "F16") for k, v in model.state_dict().items()]
    tensors += [("x", x, "F32"), ("logits", logits, "F32")]
    path = os.path.join(OUT, name + ".safetensors")
    write(path, tensors, {"model": name, "classes": "10", "source": "scripts/golden/models.py"})
    print("wrote %s (%d tensors, %d bytes)" % (path, len(tensors), os.path.getsize(path)))


def main():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    make("convnextv2_atto", [2, 2, 6, 2], [40, 80, 160, 320], True, 1)
    make("convnext_atto", [2, 2, 6, 2], [40, 80, 160, 320], False, 2)


if __name__ == "__main__":
    main()
