#!/usr/bin/python3
"""Golden data for nextconv's kernels and blocks, computed with PyTorch autograd.

Run from the repository root with the system Python that has PyTorch 1.13:

    /usr/bin/python3 scripts/golden/golden.py

It rewrites every file under kernels/cpu/testdata/golden/ (one file per op
case) and layers/testdata/golden/ (one ConvNeXt V2 and one V1 block) plus the
README.md in each folder. The output is deterministic: fixed seeds, fixed
tensor order, no timestamps.

Precision. Inputs and parameters are drawn in float64, rounded to float32 and
stored; every output and gradient is then computed by torch in float64 from
exactly those float32 values and rounded to float32 only when written. The
reference is therefore the correctly rounded answer for the stored inputs
(error <= 2^-24 relative), so a Go float32 result differs from it by the Go
code's own rounding only, not by the sum of two float32 computations that
accumulate in different orders. The float64 CPU backend must match it to
about 1e-7 relative.

Layouts. Activations are NHWC, weights are stored as PyTorch stores them
(Linear (out, in), conv OIHW, depthwise (C, 1, K, K)), GRN gamma/beta as (C,).
The script converts torch's NCHW tensors to NHWC before writing.

File format: safetensors (8-byte little-endian header length, JSON header,
raw little-endian data), written here by hand because no extra Python package
is installed; every tensor is F32. Per-case scalars (eps, stride, ...) are in
the header's __metadata__ as strings.
"""

import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPS_DIR = os.path.join(ROOT, "kernels", "cpu", "testdata", "golden")
BLOCKS_DIR = os.path.join(ROOT, "layers", "testdata", "golden")

torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)

# Filled by write(): (folder, file name, metadata, [(tensor, shape)]) for the READMEs.
INDEX = []


# --------------------------------------------------------------------------
# Output


def write(folder, name, tensors, meta):
    """Writes tensors (an ordered dict name -> torch tensor) as float32 to
    folder/name.safetensors with string metadata meta."""
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous()
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}/{key}: non-finite value")
        raw = t.numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    INDEX.append((folder, name, meta, [(k, list(t.shape)) for k, t in tensors.items()]))


# --------------------------------------------------------------------------
# Random data


class Rng:
    """Seeded float64 generator whose draws are rounded to float32, so the
    stored inputs are exactly what torch computed with."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, scale=1.0, shift=0.0):
        return f32(torch.randn(*shape, generator=self.g) * scale + shift)

    def uniform(self, *shape, lo=-1.0, hi=1.0):
        return f32(torch.rand(*shape, generator=self.g) * (hi - lo) + lo)

    def randint(self, hi, *shape):
        return torch.randint(hi, shape, generator=self.g)


def f32(t):
    """Rounds t to float32 and back to float64."""
    return t.to(torch.float32).to(torch.float64)


def leaf(t):
    return t.clone().requires_grad_(True)


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def vjp(y, dy, *wrt):
    """Gradients of sum(y * dy) with respect to wrt (None for an unused input)."""
    return torch.autograd.grad(y, wrt, grad_outputs=dy, allow_unused=True)


# --------------------------------------------------------------------------
# Convolutions and Linear


def conv2d_cases():
    # name, N, H, W, CIn, COut, K, stride, pad, bias
    cases = [
        ("k4s4", 2, 9, 13, 3, 5, 4, 4, 0, True),  # stem; H, W not multiples of 4
        ("k2s2", 2, 5, 7, 3, 4, 2, 2, 0, True),  # downsampling; odd H, W
        ("k2s2_nobias", 2, 5, 7, 3, 4, 2, 2, 0, False),
        ("k1s1", 2, 5, 7, 3, 5, 1, 1, 0, True),
        ("k3s2p1", 2, 5, 7, 3, 4, 3, 2, 1, True),
        ("k3s1p1", 2, 5, 7, 3, 4, 3, 1, 1, True),
        ("k3s1p1_w1", 2, 5, 1, 3, 4, 3, 1, 1, True),
        ("k3s2p1_h1", 3, 1, 6, 2, 3, 3, 2, 1, True),
        # Grouped (metadata Groups): Fused-MBConv/ResNeXt shapes with odd
        # channels per group, and the ResNet stem's 7×7 stride 2 pad 3.
        ("k3s2p1_g3", 2, 7, 6, 9, 6, 3, 2, 1, True, 3),
        ("k3s1p1_g2_nobias", 1, 5, 5, 6, 10, 3, 1, 1, False, 2),
        ("k5s1p2_g4_w1", 2, 6, 1, 4, 8, 5, 1, 2, True, 4),
        ("k7s2p3", 2, 11, 10, 3, 4, 7, 2, 3, False),
    ]
    for i, (name, n, h, w, cin, cout, k, s, p, bias, *groups) in enumerate(cases):
        g = groups[0] if groups else 1
        r = Rng(100 + i)
        x = leaf(r.normal(n, h, w, cin))
        wt = leaf(r.normal(cout, cin // g, k, k, scale=1 / math.sqrt(cin // g * k * k)))
        b = leaf(r.normal(cout, scale=0.5)) if bias else None
        y = nhwc(F.conv2d(nchw(x), wt, b, stride=s, padding=p, groups=g))
        dy = r.normal(*y.shape)
        t = weighted_tensors(x, wt, b, y, dy)
        meta = dict(op="conv2d", N=n, H=h, W=w, CIn=cin, COut=cout, K=k, Stride=s, Pad=p)
        if g > 1:
            meta["Groups"] = g
        write(OPS_DIR, "conv2d_" + name, t, meta)


def weighted_tensors(x, wt, b, y, dy):
    """The tensors of a weighted op's case: x, w, b (when not None), y, dy
    and the gradients dx, dw, db (when b is not None) of y·dy."""
    grads = vjp(y, dy, x, wt, *([b] if b is not None else []))
    t = {"x": x, "w": wt}
    if b is not None:
        t["b"] = b
    t.update(y=y, dy=dy, dx=grads[0], dw=grads[1])
    if b is not None:
        t["db"] = grads[2]
    return t


def dwconv_cases():
    # name, N, H, W, C, K, stride
    cases = [
        ("k3s1", 2, 5, 7, 3, 3, 1),
        ("k3s2", 2, 5, 7, 3, 3, 2),
        ("k5s1_w1", 2, 6, 1, 4, 5, 1),
        ("k5s2", 2, 5, 7, 3, 5, 2),
        ("k7s1", 2, 5, 7, 5, 7, 1),
        ("k7s2_h1", 2, 1, 8, 3, 7, 2),
        ("k9s1", 2, 5, 7, 3, 9, 1),  # kernel larger than the input
        ("k9s2", 2, 5, 7, 3, 9, 2),
    ]
    for i, (name, n, h, w, c, k, s) in enumerate(cases):
        r = Rng(200 + i)
        x = leaf(r.normal(n, h, w, c))
        wt = leaf(r.normal(c, 1, k, k, scale=1 / k))
        b = leaf(r.normal(c, scale=0.5))
        y = nhwc(F.conv2d(nchw(x), wt, b, stride=s, padding=k // 2, groups=c))
        dy = r.normal(*y.shape)
        t = weighted_tensors(x, wt, b, y, dy)
        write(OPS_DIR, "dwconv_" + name, t, dict(op="dwconv", N=n, H=h, W=w, C=c, K=k, Stride=s))


def linear_cases():
    # name, rows, in, out, bias
    cases = [("bias", 35, 6, 10, True), ("nobias", 7, 24, 5, False)]
    for i, (name, rows, fin, fout, bias) in enumerate(cases):
        r = Rng(300 + i)
        x = leaf(r.normal(rows, fin))
        wt = leaf(r.normal(fout, fin, scale=1 / math.sqrt(fin)))
        b = leaf(r.normal(fout, scale=0.5)) if bias else None
        y = F.linear(x, wt, b)
        dy = r.normal(rows, fout)
        t = weighted_tensors(x, wt, b, y, dy)
        write(OPS_DIR, "linear_" + name, t, dict(op="linear", Rows=rows, In=fin, Out=fout))


# --------------------------------------------------------------------------
# Norms and activations

EPS = 1e-6


def gelu(x, approx):
    return F.gelu(x, approximate=approx)


def layernorm_cases():
    # name, N, H, W, C, input scale, input shift (a mean far from 0 punishes
    # E[x²]−E[x]²; a variance near eps shows where eps goes), GELU
    cases = [
        ("layernorm_c3", 2, 5, 7, 3, 1.0, 0.0, None),
        ("layernorm_c16_shift", 2, 3, 1, 16, 1.0, 4.0, None),
        ("layernorm_c8_tiny_var", 2, 3, 5, 8, 1e-3, 0.5, None),
        ("lngelu_erf", 2, 5, 7, 6, 1.0, 0.0, "none"),
        ("lngelu_tanh", 2, 5, 7, 6, 1.0, 0.0, "tanh"),
    ]
    for i, (name, n, h, w, c, scale, shift, approx) in enumerate(cases):
        r = Rng(400 + i)
        rows = n * h * w
        x = leaf(r.normal(rows, c, scale=scale, shift=shift))
        wt = leaf(r.normal(c, scale=0.3, shift=1.0))
        b = leaf(r.normal(c, scale=0.3))
        # torch.native_layer_norm also returns the per-row mean and rstd.
        z, mean, rstd = torch.native_layer_norm(x, (c,), wt, b, EPS)
        y = gelu(z, approx) if approx else z
        dy = r.normal(*y.shape)
        dx, dw, db = vjp(y, dy, x, wt, b)
        t = dict(x=x, w=wt, b=b, y=y, mean=mean.reshape(rows), rstd=rstd.reshape(rows), dy=dy, dx=dx, dw=dw, db=db)
        meta = dict(op="lngelu" if approx else "layernorm", Rows=rows, C=c, Eps=EPS)
        if approx:
            meta["approx"] = "erf" if approx == "none" else "tanh"
        write(OPS_DIR, name, t, meta)


def gelu_cases():
    for i, approx in enumerate(["none", "tanh"]):
        r = Rng(500 + i)
        x = r.normal(2, 5, 7, 3, scale=2.0)
        # Add the tails and the origin, where a careless formula loses digits.
        x = x.flatten()
        x[:8] = torch.tensor([-8.0, -5.0, -3.0, -1e-3, 0.0, 1e-3, 5.0, 8.0])
        x = leaf(x.reshape(2, 5, 7, 3))
        y = gelu(x, approx)
        dy = r.normal(*y.shape)
        (dx,) = vjp(y, dy, x)
        name = "erf" if approx == "none" else "tanh"
        write(OPS_DIR, "gelu_" + name, dict(x=x, y=y, dy=dy, dx=dx), dict(op="gelu", approx=name))


def grn_reference(x, gamma, beta):
    """GRN as ConvNeXt-V2 models/utils.py defines it, on NHWC x, with gamma
    and beta of shape (C,) broadcast like the official (1, 1, 1, C)."""
    gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
    nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
    return gamma * (x * nx) + beta + x, gx


def grn_cases():
    # name, N, H, W, C, input scale, zero sample
    cases = [
        ("grn", 2, 5, 7, 6, 1.0, None),
        ("grn_zero_sample", 3, 5, 3, 4, 1.0, 1),  # sample 1 all zeros: y = beta + x, norm grad 0
        ("grn_hw1", 3, 1, 1, 5, 1.0, None),  # 1×1 spatial: g = |x|
        ("grn_tiny", 2, 5, 7, 6, 1e-7, None),  # norms near eps: shows where eps goes
    ]
    for i, (name, n, h, w, c, scale, zero) in enumerate(cases):
        r = Rng(600 + i)
        x = r.normal(n, h, w, c, scale=scale)
        if zero is not None:
            x[zero] = 0
        x = leaf(x)
        gamma = leaf(r.normal(c, scale=0.5))
        beta = leaf(r.normal(c, scale=0.3))
        y, gx = grn_reference(x, gamma, beta)
        dy = r.normal(*y.shape)
        dx, dgamma, dbeta = vjp(y, dy, x, gamma, beta)
        hw = h * w
        t = dict(x=x.reshape(n, hw, c), gamma=gamma, beta=beta, y=y.reshape(n, hw, c), gnorm=gx.reshape(n, c))
        t.update(dy=dy.reshape(n, hw, c), dx=dx.reshape(n, hw, c), dgamma=dgamma, dbeta=dbeta)
        write(OPS_DIR, name, t, dict(op="grn", N=n, H=h, W=w, HW=hw, C=c, Eps=1e-6))


def avgpool_case():
    r = Rng(700)
    n, h, w, c = 2, 5, 7, 3
    x = leaf(r.normal(n, h, w, c))
    y = x.mean(dim=(1, 2))
    dy = r.normal(n, c)
    (dx,) = vjp(y, dy, x)
    hw = h * w
    t = dict(x=x.reshape(n, hw, c), y=y, dy=dy, dx=dx.reshape(n, hw, c))
    write(OPS_DIR, "avgpool", t, dict(op="avgpool", N=n, H=h, W=w, HW=hw, C=c))


# --------------------------------------------------------------------------
# Elementwise


def droppath_case():
    r = Rng(800)
    drop = 0.25
    keep = 1 - drop
    x = leaf(r.normal(4, 5, 7, 3))
    # timm DropPath: x / keep * bernoulli(keep) per sample; the mask is fixed here.
    scale = f32(torch.tensor([1.0, 0.0, 1.0, 0.0]) / keep)
    y = x * scale.reshape(4, 1, 1, 1)
    dy = r.normal(*y.shape)
    (dx,) = vjp(y, dy, x)
    write(OPS_DIR, "droppath", dict(x=x, scale=scale, y=y, dy=dy, dx=dx), dict(op="droppath", N=4, drop_prob=drop))


def add_case():
    r = Rng(810)
    a = leaf(r.normal(2, 5, 7, 3))
    b = leaf(r.normal(2, 5, 7, 3))
    y = a + b
    dy = r.normal(*y.shape)
    da, db = vjp(y, dy, a, b)
    write(OPS_DIR, "add", dict(a=a, b=b, y=y, dy=dy, da=da, db=db), dict(op="add"))


def channelscale_case():
    r = Rng(820)
    x = leaf(r.normal(70, 3))
    gamma = leaf(r.normal(3, scale=0.5))
    y = x * gamma
    dy = r.normal(*y.shape)
    dx, dgamma = vjp(y, dy, x, gamma)
    t = dict(x=x, gamma=gamma, y=y, dy=dy, dx=dx, dgamma=dgamma)
    write(OPS_DIR, "channelscale", t, dict(op="channelscale", Rows=70, C=3))


# --------------------------------------------------------------------------
# Loss


def ce_smooth_case():
    r = Rng(900)
    n, k, eps = 5, 7, 0.1
    logits = r.normal(n, k, scale=3.0)
    logits[2] = r.normal(k, scale=60.0)  # exp would overflow float32 without the max shift
    logits = leaf(logits)
    labels = r.randint(k, n)
    loss = F.cross_entropy(logits, labels, label_smoothing=eps, reduction="none")
    (dlogits,) = torch.autograd.grad(loss.mean(), logits)
    # The target rows our CrossEntropy takes, (1−ε)·onehot + ε/K.
    target = (1 - eps) * F.one_hot(labels, k).double() + eps / k
    t = dict(logits=logits, labels=labels.double(), target=target, loss=loss, prob=F.softmax(logits, dim=1), dlogits=dlogits)
    write(OPS_DIR, "ce_smooth", t, dict(op="cross_entropy", N=n, K=k, label_smoothing=eps, dlogits="gradient of the batch mean"))


def ce_soft_case():
    r = Rng(910)
    n, k, eps, lam = 4, 10, 0.1, 0.7
    logits = r.normal(n, k, scale=2.0)
    logits[3] = r.normal(k, scale=40.0)
    logits = leaf(logits)
    a, b = r.randint(k, n), r.randint(k, n)
    # timm Mixup with smoothing: λ·smooth(a) + (1−λ)·smooth(b), ε/K off-value.
    off, on = eps / k, 1 - eps + eps / k
    target = f32(lam * (F.one_hot(a, k) * (on - off) + off) + (1 - lam) * (F.one_hot(b, k) * (on - off) + off))
    loss = F.cross_entropy(logits, target, reduction="none")
    (dlogits,) = torch.autograd.grad(loss.mean(), logits)
    t = dict(logits=logits, target=target, loss=loss, prob=F.softmax(logits, dim=1), dlogits=dlogits)
    write(OPS_DIR, "ce_soft", t, dict(op="cross_entropy", N=n, K=k, mixup_lambda=lam, label_smoothing=eps, dlogits="gradient of the batch mean"))


# --------------------------------------------------------------------------
# Optimizer and EMA


def adamw_case():
    r = Rng(1000)
    steps = 5
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    # Arena: group 0 = [0, 17), a gap [17, 20) in no group, group 1 = [20, 43).
    groups = [(0, 17, 1e-2, 0.05), (20, 23, 3e-3, 0.0)]
    total = 43
    p0 = r.normal(total)
    pa = p0[0:17].clone().requires_grad_(True)
    pb = p0[20:43].clone().requires_grad_(True)
    gap = p0[17:20].clone()
    opt = torch.optim.AdamW(
        [dict(params=[pa], lr=groups[0][2], weight_decay=groups[0][3]), dict(params=[pb], lr=groups[1][2], weight_decay=groups[1][3])],
        betas=(beta1, beta2),
        eps=eps,
        foreach=False,
    )
    t = {"p0": p0}
    for s in range(1, steps + 1):
        # Gradients of several magnitudes, some tiny, so eps matters.
        g = r.normal(total) * torch.tensor([10.0 ** -(j % 7) for j in range(total)])
        g = f32(g)
        pa.grad, pb.grad = g[0:17].clone(), g[20:43].clone()
        opt.step()
        p = torch.cat([pa.detach(), gap, pb.detach()])
        sa, sb = opt.state[pa], opt.state[pb]
        zero = torch.zeros(3)
        m = torch.cat([sa["exp_avg"], zero, sb["exp_avg"]])
        v = torch.cat([sa["exp_avg_sq"], zero, sb["exp_avg_sq"]])
        t.update({f"g{s}": g, f"p{s}": p, f"m{s}": m, f"v{s}": v})
    meta = dict(op="adamw", steps=steps, beta1=beta1, beta2=beta2, eps=eps, groups=json.dumps([list(g) for g in groups]))
    write(OPS_DIR, "adamw", t, meta)


def ema_case():
    r = Rng(1100)
    decay = 0.99
    avg = r.normal(2, 5, 7, 3)
    t = {"avg0": avg}
    for s in range(1, 4):
        x = r.normal(2, 5, 7, 3)
        avg = decay * avg + (1 - decay) * x
        t[f"x{s}"] = x
        t[f"avg{s}"] = avg
    write(OPS_DIR, "ema", t, dict(op="ema", steps=3, decay=decay))


# --------------------------------------------------------------------------
# Blocks


class GRN(nn.Module):
    """ConvNeXt-V2 GRN (models/utils.py) on NHWC input, parameters (1,1,1,C)."""

    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        return grn_reference(x, self.gamma, self.beta)[0]


class Block(nn.Module):
    """The official ConvNeXt block (V2 with GRN, V1 with layer scale), with
    drop path as a fixed per-sample scale. Records intermediate activations."""

    def __init__(self, dim, v2):
        super().__init__()
        self.v2 = v2
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        if v2:
            self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        if not v2:
            self.gamma = nn.Parameter(torch.ones(dim))
        self.inter = {}

    def forward(self, x, drop_scale):
        shortcut = x
        x = self.dwconv(x)
        self.inter["dwconv"] = nhwc(x)
        x = nhwc(x)
        x = self.norm(x)
        self.inter["norm"] = x
        x = self.pwconv1(x)
        self.inter["pwconv1"] = x
        x = self.act(x)
        self.inter["act"] = x
        if self.v2:
            x = self.grn(x)
            self.inter["grn"] = x
        x = self.pwconv2(x)
        self.inter["pwconv2"] = x
        if not self.v2:
            x = self.gamma * x
            self.inter["gamma"] = x
        x = nchw(x)
        return shortcut + x * drop_scale.reshape(-1, 1, 1, 1)


def block_case(v2):
    r = Rng(1200 if v2 else 1300)
    n, h, w, c = 2, 5, 7, 8
    drop = 0.25
    blk = Block(c, v2)
    # Non-trivial parameters everywhere (GRN gamma/beta and V1's layer scale
    # would otherwise start at 0 and 1e-6 and hide half the block).
    with torch.no_grad():
        blk.dwconv.weight.copy_(r.normal(c, 1, 7, 7, scale=0.15))
        blk.dwconv.bias.copy_(r.normal(c, scale=0.2))
        blk.norm.weight.copy_(r.normal(c, scale=0.2, shift=1.0))
        blk.norm.bias.copy_(r.normal(c, scale=0.2))
        blk.pwconv1.weight.copy_(r.normal(4 * c, c, scale=1 / math.sqrt(c)))
        blk.pwconv1.bias.copy_(r.normal(4 * c, scale=0.2))
        if v2:
            blk.grn.gamma.copy_(r.normal(1, 1, 1, 4 * c, scale=0.5))
            blk.grn.beta.copy_(r.normal(1, 1, 1, 4 * c, scale=0.2))
        blk.pwconv2.weight.copy_(r.normal(c, 4 * c, scale=1 / math.sqrt(4 * c)))
        blk.pwconv2.bias.copy_(r.normal(c, scale=0.2))
        if not v2:
            blk.gamma.copy_(r.normal(c, scale=0.5))
    x_nhwc = leaf(r.normal(n, h, w, c))
    drop_mask = f32(torch.tensor([1.0, 0.0]) / (1 - drop))  # sample 1 dropped
    y = nhwc(blk(nchw(x_nhwc), drop_mask))
    dy = r.normal(*y.shape)
    params = dict(blk.named_parameters())
    grads = vjp(y, dy, x_nhwc, *params.values())
    t = dict(x=x_nhwc, drop_mask=drop_mask, y=y, dy=dy, dx=grads[0])
    for (name, p), g in zip(params.items(), grads[1:]):
        shape = (4 * c,) if name.startswith("grn.") else p.shape
        t[name] = p.reshape(shape)
        t["grad." + name] = g.reshape(shape)
    for name, a in blk.inter.items():
        t["inter." + name] = a
    meta = dict(block="convnextv2" if v2 else "convnext", dim=c, N=n, H=h, W=w, kernel=7, eps=1e-6, drop_prob=drop, gelu="erf")
    write(BLOCKS_DIR, "block_v2" if v2 else "block_v1", t, meta)


# --------------------------------------------------------------------------
# Channel attention: the gate of squeeze-and-excitation and ECA, ECA's 1-D
# convolution across channels, and both modules whole.


GATES = {"sigmoid": torch.sigmoid, "hard_sigmoid": F.hardsigmoid}


def channelgate_cases():
    # name, N, HW, C, gate; logits in [-4, 4) reach the hard sigmoid's flat parts
    for i, (name, n, hw, c, gate) in enumerate([("sigmoid", 2, 5, 7, "sigmoid"), ("hard_sigmoid", 3, 4, 5, "hard_sigmoid")]):
        r = Rng(1500 + i)
        x = leaf(r.normal(n, hw, c))
        g = leaf(r.uniform(n, c, lo=-4.0, hi=4.0))
        y = x * GATES[gate](g)[:, None, :]
        dy = r.normal(*y.shape)
        dx, dg = vjp(y, dy, x, g)
        meta = dict(op="channel_gate", N=n, HW=hw, C=c, Gate=0 if gate == "sigmoid" else 1)
        write(OPS_DIR, "channelgate_" + name, dict(x=x, g=g, y=y, dy=dy, dx=dx, dg=dg), meta)


def channelconv_cases():
    # name, N, C, K: ECA's conv1d(1, 1, K, padding=(K-1)/2, bias=False) over channels
    for i, (name, n, c, k) in enumerate([("k3", 2, 9, 3), ("k5", 3, 4, 5)]):
        r = Rng(1600 + i)
        x = leaf(r.normal(n, c))
        wt = leaf(r.normal(1, 1, k, scale=0.5))
        y = F.conv1d(x[:, None, :], wt, padding=(k - 1) // 2)[:, 0, :]
        dy = r.normal(*y.shape)
        dx, dw = vjp(y, dy, x, wt)
        meta = dict(op="channel_conv", N=n, C=c, K=k)
        write(OPS_DIR, "channelconv_" + name, dict(x=x, w=wt, y=y, dy=dy, dx=dx, dw=dw), meta)


def attention_cases():
    """Squeeze-and-excitation (Hu et al. 2018) with timm's EfficientNet
    parameter names and ECA (Wang et al. 2020) with timm's EcaModule names,
    written from their definitions: mean over H, W; SE: 1×1 conv_reduce with
    bias, GELU (erf; the Go test builds the same), 1×1 conv_expand with bias,
    sigmoid; ECA: conv1d across channels, no bias, sigmoid; then x·gate."""
    n, h, w, c, rd = 2, 5, 3, 6, 2
    r = Rng(1700)
    x = leaf(r.normal(n, h, w, c))
    params = {
        "conv_reduce.weight": leaf(r.normal(rd, c, 1, 1, scale=0.5)),
        "conv_reduce.bias": leaf(r.normal(rd, scale=0.5)),
        "conv_expand.weight": leaf(r.normal(c, rd, 1, 1, scale=0.5)),
        "conv_expand.bias": leaf(r.normal(c, scale=0.5)),
    }
    p = nchw(x).mean((2, 3), keepdim=True)
    p = F.conv2d(p, params["conv_reduce.weight"], params["conv_reduce.bias"])
    p = F.conv2d(F.gelu(p), params["conv_expand.weight"], params["conv_expand.bias"])
    y = nhwc(nchw(x) * torch.sigmoid(p))
    write_module("se", x, y, params, r, dict(block="squeeze_excite", N=n, H=h, W=w, C=c, reduced=rd, act="gelu", gate="sigmoid"))

    n, h, w, c, k = 2, 3, 4, 7, 3
    r = Rng(1701)
    x = leaf(r.normal(n, h, w, c))
    params = {"conv.weight": leaf(r.normal(1, 1, k, scale=0.5))}
    p = nchw(x).mean((2, 3)).view(n, 1, c)
    p = F.conv1d(p, params["conv.weight"], padding=(k - 1) // 2)
    y = nhwc(nchw(x) * torch.sigmoid(p).view(n, c, 1, 1))
    write_module("eca", x, y, params, r, dict(block="eca", N=n, H=h, W=w, C=c, K=k, gate="sigmoid"))


def write_module(name, x, y, params, r, meta):
    """Writes a module's case to layers/testdata/golden: x, y, dy, dx, every
    parameter under its name and its gradient as grad.<name>."""
    dy = r.normal(*y.shape)
    grads = vjp(y, dy, x, *params.values())
    t = dict(x=x, y=y, dy=dy, dx=grads[0])
    for (pn, pv), g in zip(params.items(), grads[1:]):
        t[pn] = pv
        t["grad." + pn] = g
    write(BLOCKS_DIR, name, t, meta)


# --------------------------------------------------------------------------
# README


def readme(folder, title, intro):
    rows = [e for e in INDEX if e[0] == folder]
    lines = [f"# {title}", "", intro, ""]
    total = 0
    for _, name, meta, tensors in rows:
        size = os.path.getsize(os.path.join(folder, name + ".safetensors"))
        total += size
        m = ", ".join(f"{k}={v}" for k, v in meta.items())
        lines.append(f"## {name}.safetensors ({size} bytes)")
        lines.append("")
        lines.append(f"Metadata: {m}")
        lines.append("")
        lines.append("| tensor | shape |")
        lines.append("|---|---|")
        for k, shape in tensors:
            lines.append(f"| `{k}` | {shape} |")
        lines.append("")
    lines.append(f"Total: {len(rows)} files, {total} bytes.")
    lines.append("")
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("\n".join(lines))


COMMON = """Generated by `/usr/bin/python3 scripts/golden/golden.py` (PyTorch {torch}); do not edit by
hand. Every tensor is float32 safetensors. Inputs were drawn in float64 with fixed seeds and
rounded to float32; outputs and gradients were computed by torch autograd in float64 from those
exact float32 inputs, then rounded to float32. Activations are NHWC; Linear weights (out, in),
conv weights OIHW, depthwise weights (C, 1, K, K), GRN gamma/beta (C,). `dy` is the upstream
gradient; `d<name>` (ops) or `grad.<name>` (blocks) the gradient of sum(y·dy) with respect to
`<name>`."""

OPS_INTRO = COMMON + """

kernels/cpu/golden_test.go checks every file on both CPU backends; kernels/cpu/gorgonia_test.go
also checks gorgonia against some of them. Each file is one case of one op; its metadata holds the op's shape struct fields (kernels/shapes.go)
and every tensor has the shape that contract names: NHWC [N, H, W, C] for convolutions, [Rows, C]
for LayerNorm and layer scale, NHWC with the spatial axes flattened, [N, HW, C], for GRN and
average pooling.

Op-specific notes: `mean` and `rstd` are torch.native_layer_norm's per-row statistics (rstd =
1/sqrt(var + eps), biased variance); `gnorm` is GRN's per-sample, per-channel L2 norm over H·W;
`scale` (droppath) is the per-sample drop-path factor, 0 or 1/keep_prob; cross-entropy `target`
rows are the distributions our CrossEntropy takes ((1−ε)·onehot + ε/K for label smoothing, torch's
F.cross_entropy(label_smoothing=ε)), `labels` the class indices as floats, `loss` per sample and
`dlogits` the gradient of the batch mean; adamw holds the arena `p0`, then per step s the
gradient `g<s>` and torch.optim.AdamW's parameters `p<s>`, `exp_avg` `m<s>` and `exp_avg_sq`
`v<s>` after that step (groups in metadata as [offset, len, lr, weight_decay]; elements 17..19
belong to no group and stay fixed); ema holds `avg<s>` = decay·`avg<s−1>` + (1−decay)·`x<s>`;
conv2d cases with a `Groups` entry are grouped (w [COut, CIn/Groups, K, K]); channelgate holds
x [N, HW, C], the gate logits `g` [N, C] and y = x·gate(g) (Gate 0 sigmoid, 1 hard sigmoid);
channelconv is ECA's conv1d over the C channels of x [N, C] with w [1, 1, K]."""

BLOCKS_INTRO = COMMON + """

Blocks follow the official ConvNeXt(-V2) `Block` (dwconv 7×7 → LayerNorm(eps 1e-6) → pwconv1 →
GELU(erf) → [V2: GRN] → pwconv2 → [V1: layer scale `gamma`] → drop path → + input), with
non-trivial random GRN gamma/beta and layer scale. `drop_mask` is the per-sample drop-path scale
(0 or 1/keep_prob, keep_prob = 1 − drop_prob; sample 1 is dropped). `inter.<module>` are the
intermediate NHWC activations after each module, for locating a mismatch.
kernels/cpu/golden_block_test.go rebuilds both blocks from backend ops, forward and backward,
and matches every tensor here: a working recipe for the layers package.

`se` is squeeze-and-excitation (mean over H, W → 1×1 `conv_reduce` with bias → GELU(erf) → 1×1
`conv_expand` with bias → sigmoid → x·gate; timm's EfficientNet names) and `eca` is ECA (mean →
conv1d across channels, `conv.weight` [1, 1, K], zero padding (K−1)/2, no bias → sigmoid →
x·gate; timm's EcaModule names), both written from their definitions; layers/golden_test.go
(TestGoldenAttention) matches them.

The subfolder `efficient/` (the efficient blocks, the ResNet bottleneck and the ConvNeXt V2
block with SE or ECA, in training and evaluation mode) has its own script and index: rerun it
with `TIMM_SRC=DIR /usr/bin/python3 scripts/golden/efficient_blocks.py`, DIR holding `timm/`
from pytorch-image-models at commit aa4b5850 (`git archive aa4b5850 timm | tar -x -C DIR`)."""


def main():
    conv2d_cases()
    dwconv_cases()
    linear_cases()
    layernorm_cases()
    gelu_cases()
    grn_cases()
    avgpool_case()
    droppath_case()
    add_case()
    channelscale_case()
    ce_smooth_case()
    ce_soft_case()
    adamw_case()
    ema_case()
    block_case(v2=True)
    block_case(v2=False)
    channelgate_cases()
    channelconv_cases()
    attention_cases()
    readme(OPS_DIR, "Golden data for the CPU backend's ops", OPS_INTRO.format(torch=torch.__version__))
    readme(BLOCKS_DIR, "Golden data for ConvNeXt blocks", BLOCKS_INTRO.format(torch=torch.__version__))


if __name__ == "__main__":
    main()
