#!/usr/bin/python3
"""Golden data for nextconv's FCMAE pre-training (models/fcmae.go).

Run from the repository root with the system Python that has PyTorch 1.13:

    /usr/bin/python3 scripts/golden/fcmae.py

It writes models/testdata/golden/fcmae.safetensors: a tiny ConvNeXt V2
encoder (two stages, dims 4 and 8, a 2×2 stem, 5×5 depthwise kernels in the encoder, so the
patch is the total stride 4), its FCMAE decoder (width 6, one block), a batch
of two 12×12 RGB images, the noise the mask is drawn from, and what PyTorch
computes in float64 from the stored float32 values: the mask, the masked
encoder's output, the prediction, the loss and every parameter's gradient.

The reference follows the official facebookresearch/ConvNeXt-V2
models/fcmae.py (commit 2553895): gen_random_mask (argsort of the noise,
the int(L·(1 − ratio)) smallest stay visible), upsample_mask
(repeat_interleave), forward_decoder (proj, x·(1 − mask) + mask_token·mask,
decoder blocks, pred), forward_loss (patchify, norm_pix_loss with the
unbiased variance and 1e-6, per-patch mean, mean over masked patches). The
sparse encoder is replaced by its dense emulation from the paper's JAX code in
TRAINING.md: the mask is multiplied in after the stem, after each
downsampling, after each depthwise convolution, into GRN's input (per-sample
statistics over visible pixels) and after each block, so that masked pixels
are zero between layers, as in the densified sparse tensor. Written for
nextconv, not copied.

Layout: images and activations NHWC, parameters in PyTorch layout under
nextconv's (timm) names; Linear weights (out, in); mask_token (1, D, 1, 1).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from models import write  # noqa: E402  (the safetensors writer of the model goldens)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "testdata", "golden", "fcmae.safetensors")

torch.set_default_dtype(torch.float64)

DEPTHS, DIMS, STEM, KERNEL, CIN = [1, 1], [4, 8], 2, 5, 3
DEC, N, SIDE, RATIO, EPS = 6, 2, 12, 0.6, 1e-6
PATCH = STEM * 2 ** (len(DEPTHS) - 1)


def f32(t):
    """Rounds to float32 and back, so PyTorch sees exactly the stored values."""
    return t.float().double()


def make_params(g):
    p = {}

    def conv(name, o, i, k):
        p[name + ".weight"] = f32(torch.randn(o, i, k, k, generator=g) * 0.3)
        p[name + ".bias"] = f32(torch.randn(o, generator=g) * 0.1)

    def lin(name, o, i):
        p[name + ".weight"] = f32(torch.randn(o, i, generator=g) * 0.3)
        p[name + ".bias"] = f32(torch.randn(o, generator=g) * 0.1)

    def norm(name, c):
        p[name + ".weight"] = f32(1 + torch.randn(c, generator=g) * 0.1)
        p[name + ".bias"] = f32(torch.randn(c, generator=g) * 0.1)

    def block(name, c, k=KERNEL):
        p[name + ".conv_dw.weight"] = f32(torch.randn(c, 1, k, k, generator=g) * 0.2)
        p[name + ".conv_dw.bias"] = f32(torch.randn(c, generator=g) * 0.1)
        norm(name + ".norm", c)
        lin(name + ".mlp.fc1", 4 * c, c)
        p[name + ".mlp.grn.weight"] = f32(torch.randn(4 * c, generator=g) * 0.3)
        p[name + ".mlp.grn.bias"] = f32(torch.randn(4 * c, generator=g) * 0.1)
        lin(name + ".mlp.fc2", c, 4 * c)

    conv("stem.0", DIMS[0], CIN, STEM)
    norm("stem.1", DIMS[0])
    for i, d in enumerate(DEPTHS):
        if i > 0:
            norm("stages.%d.downsample.0" % i, DIMS[i - 1])
            conv("stages.%d.downsample.1" % i, DIMS[i], DIMS[i - 1], 2)
        for j in range(d):
            block("stages.%d.blocks.%d" % (i, j), DIMS[i])
    lin("proj", DEC, DIMS[-1])
    p["mask_token"] = f32(torch.randn(1, DEC, 1, 1, generator=g) * 0.5)
    block("decoder.0", DEC, 7)  # the decoder is fcmae.py's Block, always 7×7
    lin("pred", PATCH * PATCH * CIN, DEC)
    return p


def ln_cf(x, p, name):
    """LayerNorm over channels of an NCHW tensor."""
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), p[name + ".weight"], p[name + ".bias"], EPS).permute(0, 3, 1, 2)


def grn(x, keep, w, b):
    """GRN on NHWC x with statistics over visible pixels (keep NHW1 or None)."""
    xs = x if keep is None else x * keep
    gx = torch.norm(xs, p=2, dim=(1, 2), keepdim=True)
    nx = gx / (gx.mean(dim=-1, keepdim=True) + EPS)
    return w * (x * nx) + b + x


def block(x, p, name, keep):
    """ConvNeXt V2 block on NCHW x; keep (N1HW, 1 = visible) or None."""
    c, k = x.shape[1], p[name + ".conv_dw.weight"].shape[-1]
    y = F.conv2d(x, p[name + ".conv_dw.weight"], p[name + ".conv_dw.bias"], padding=k // 2, groups=c)
    if keep is not None:
        y = y * keep
    y = y.permute(0, 2, 3, 1)
    y = F.layer_norm(y, (c,), p[name + ".norm.weight"], p[name + ".norm.bias"], EPS)
    y = F.gelu(F.linear(y, p[name + ".mlp.fc1.weight"], p[name + ".mlp.fc1.bias"]))
    y = grn(y, None if keep is None else keep.permute(0, 2, 3, 1), p[name + ".mlp.grn.weight"], p[name + ".mlp.grn.bias"])
    y = F.linear(y, p[name + ".mlp.fc2.weight"], p[name + ".mlp.fc2.bias"]).permute(0, 3, 1, 2)
    y = x + y
    return y if keep is None else y * keep


def gen_mask(noise, ratio):
    n, l = noise.shape
    keep = int(l * (1 - ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(n, l)
    mask[:, :keep] = 0
    return torch.gather(mask, 1, ids_restore)


def upsample(mask, gh, gw, scale):
    m = mask.reshape(-1, gh, gw).repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return (1 - m).unsqueeze(1)  # N1HW, 1 = visible


def encoder(imgs, p, mask, gh, gw):
    x = F.conv2d(imgs, p["stem.0.weight"], p["stem.0.bias"], stride=STEM)
    x = ln_cf(x, p, "stem.1")
    scale = SIDE // gh // STEM
    keep = upsample(mask, gh, gw, scale)
    x = x * keep
    for i, d in enumerate(DEPTHS):
        if i > 0:
            x = ln_cf(x, p, "stages.%d.downsample.0" % i)
            x = F.conv2d(x, p["stages.%d.downsample.1.weight" % i], p["stages.%d.downsample.1.bias" % i], stride=2)
            scale //= 2
            keep = upsample(mask, gh, gw, scale)
            x = x * keep
        for j in range(d):
            x = block(x, p, "stages.%d.blocks.%d" % (i, j), keep)
    return x


def decoder(x, p, mask):
    n, _, h, w = x.shape
    x = F.conv2d(x, p["proj.weight"][:, :, None, None], p["proj.bias"])
    m = mask.reshape(n, h, w).unsqueeze(1)
    x = x * (1 - m) + p["mask_token"].repeat(n, 1, h, w) * m
    x = block(x, p, "decoder.0", None)
    return F.conv2d(x, p["pred.weight"][:, :, None, None], p["pred.bias"])


def patchify(imgs):
    n, c, h, w = imgs.shape
    gh, gw = h // PATCH, w // PATCH
    x = imgs.reshape(n, c, gh, PATCH, gw, PATCH)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, gh * gw, PATCH * PATCH * c)


def loss_fn(imgs, pred, mask):
    n, c, _, _ = pred.shape
    pred = torch.einsum("ncl->nlc", pred.reshape(n, c, -1))
    target = patchify(imgs)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum(), per_patch


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def main():
    g = torch.Generator().manual_seed(13)
    params = make_params(g)
    for v in params.values():
        v.requires_grad_(True)
    imgs = f32(torch.randn(N, CIN, SIDE, SIDE, generator=g))
    gh = gw = SIDE // PATCH
    noise = f32(torch.randn(N, gh * gw, generator=g))
    mask = gen_mask(noise, RATIO)
    enc = encoder(imgs, params, mask, gh, gw)
    enc.retain_grad()
    pred = decoder(enc, params, mask)
    loss, per_patch = loss_fn(imgs, pred, mask)
    loss.backward()
    out = [("img", nhwc(imgs)), ("noise", noise), ("mask", mask.reshape(N, gh, gw)),
           ("encoder", nhwc(enc)), ("pred", nhwc(pred)), ("patch_loss", per_patch.reshape(N, gh, gw)),
           ("loss", loss.reshape(1))]
    out += [("param." + k, v) for k, v in params.items()]
    out += [("grad." + k, v.grad) for k, v in params.items()]
    out = [(k, v, "F32") for k, v in out]
    meta = {"depths": json.dumps(DEPTHS), "dims": json.dumps(DIMS), "stem_patch": str(STEM), "kernel": str(KERNEL),
            "decoder_dim": str(DEC), "mask_ratio": str(RATIO)}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write(OUT, out, meta)
    print("wrote %s (%d tensors, %d bytes)" % (OUT, len(out), os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
