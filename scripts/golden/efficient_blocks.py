#!/usr/bin/python3
"""Golden forward and backward data for nextconv's efficient blocks, the
ResNet bottleneck and the ConvNeXt V2 block with SE or ECA, in training mode
(BatchNorm batch statistics, running statistics updated) and evaluation mode.

Run from the repository root with the system Python that has PyTorch 1.13,
pointing TIMM_SRC at a folder holding timm's `timm/` package exported from
huggingface/pytorch-image-models at commit aa4b5850 (`git archive aa4b5850
timm | tar -x -C DIR`), as for efficient.py:

    TIMM_SRC=DIR /usr/bin/python3 scripts/golden/efficient_blocks.py

It rewrites layers/testdata/golden/efficient/<case>.safetensors and the
README.md index of that folder. Deterministic: fixed seeds, no timestamps.
Precision as golden.py: inputs and parameters are drawn in float64 and
rounded to float32; timm's modules run in float64 on exactly those values;
results are rounded to float32 when written.

The modules are timm's own, so the state-dict names are timm's:
DepthwiseSeparableConv ("ds"), InvertedResidual ("ir", MBConv),
EdgeResidual ("er", Fused-MBConv), ConvBnAct ("cn"),
UniversalInvertedResidual ("uir", MobileNetV4's UIB) with timm's
SqueezeExcite (the block's activation, sigmoid gate, an explicit reduced
width); resnet.Bottleneck with the 1×1 conv + BatchNorm projection
(downsample.0, downsample.1) when it strides or changes width; and timm's
ConvNeXtBlock (GRN, no layer scale, the V2 block) with the attention of
nextconv's study on the residual branch after the MLP, before the sum:
timm's SqueezeExcite with ReLU (se.conv_reduce, se.conv_expand) or
EcaModule with the adaptive kernel (eca.conv.weight). timm rounds an
expanded width to a multiple of 8 (make_divisible); the script replaces that
rounding by the nearest integer so that odd widths can be tested. Drop path
is off everywhere.

Every file holds, NHWC for activations and PyTorch's layouts for weights:

- the module's initial state dict under its names: weights drawn normal with
  std 1/sqrt(fan_in), BatchNorm weight 1 + 0.25·z, every other 1-D tensor
  (biases, BatchNorm bias, LayerNorm and GRN weight and bias, layer scale)
  0.3·z, running_mean 0.3·z, running_var uniform in [0.5, 2],
  num_batches_tracked 0;
- `x`, and `dy`, the upstream gradient;
- for MODE in eval, train (each run from the initial state): `MODE.y`,
  `MODE.dx`, `MODE.grad.<param>` for every parameter, the gradients of
  sum(y·dy); and `train.<buffer>` for every BatchNorm buffer after the
  training step (running_mean, running_var with the unbiased batch
  variance, num_batches_tracked 1).

Metadata names the family (efficient, bottleneck, convnext) and the
configuration the Go test rebuilds the block from, plus N, H, W.
layers/efficient_golden_test.go (TestGoldenEfficientBlocks,
TestGoldenBottleneck, TestGoldenConvNeXtAttention) matches them through
internal/testutil/layergolden.
"""

import copy
import functools
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402  (its writer, Rng and layout helpers)
from golden import Rng, leaf, nchw, nhwc, write  # noqa: E402

if "TIMM_SRC" not in os.environ:
    sys.exit("set TIMM_SRC to a folder holding timm/ from pytorch-image-models at aa4b5850")
sys.path.insert(0, os.environ["TIMM_SRC"])
import timm.models._efficientnet_blocks as eb  # noqa: E402
from timm.layers import EcaModule  # noqa: E402
from timm.models.convnext import ConvNeXtBlock  # noqa: E402
from timm.models.resnet import Bottleneck  # noqa: E402

OUT = os.path.join(golden.BLOCKS_DIR, "efficient")

# Odd expanded widths: the nearest integer instead of a multiple of 8.
eb.make_divisible = lambda v, *args, **kwargs: int(round(v))

ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish}

# name, kind, in, out, mid, kernel, start_kernel, stride, se, skip, act, layer_scale, (N, H, W)
EFFICIENT = [
    ("ds_se", "ds", 5, 5, 0, 3, 0, 1, 2, False, "relu", 0, (2, 7, 5)),
    ("ds_s2", "ds", 5, 3, 0, 5, 0, 2, 0, False, "silu", 0, (3, 5, 3)),
    ("ir_se", "ir", 5, 5, 9, 3, 0, 1, 2, False, "silu", 0, (2, 7, 5)),
    ("ir_s2", "ir", 3, 7, 9, 5, 0, 2, 0, False, "hardswish", 0, (2, 6, 1)),
    ("er_exp_s2", "er", 3, 5, 9, 3, 0, 2, 0, False, "silu", 0, (2, 7, 5)),
    ("er_noexp_se", "er", 5, 5, 5, 3, 0, 1, 3, False, "relu", 0, (3, 5, 3)),
    ("cn_skip", "cn", 5, 5, 0, 3, 0, 1, 0, True, "relu6", 0, (2, 5, 7)),
    ("cn_s2", "cn", 3, 7, 0, 3, 0, 2, 0, False, "silu", 0, (2, 7, 5)),
    ("uir_extradw", "uir", 5, 5, 9, 5, 3, 1, 0, False, "relu", 0.5, (2, 7, 5)),
    ("uir_extradw_s2", "uir", 3, 5, 7, 3, 3, 2, 0, False, "relu", 0, (2, 5, 3)),
    ("uir_ib_se", "uir", 5, 5, 7, 3, 0, 1, 2, False, "hardswish", 0, (2, 5, 3)),
    ("uir_convnext_s2", "uir", 5, 5, 9, 0, 5, 2, 0, False, "relu", 0, (2, 7, 5)),
    ("uir_ffn", "uir", 5, 5, 7, 0, 0, 1, 0, False, "relu", 0.5, (2, 3, 5)),
]

# name, in, out, stride, groups, base_width, (N, H, W)
BOTTLENECK = [
    ("bottleneck_proj_s2_g3", 5, 12, 2, 3, 64, (2, 7, 5)),
    ("bottleneck_identity", 12, 12, 1, 1, 80, (2, 5, 3)),
]

# name, dim, kernel, se, eca, (N, H, W)
CONVNEXT = [
    ("convnextv2_se", 7, 5, 3, False, (2, 5, 3)),
    ("convnextv2_eca", 9, 3, 0, True, (2, 3, 5)),
]


def efficient_module(kind, cin, cout, mid, k, start, stride, se, skip, act, ls):
    a = ACTS[act]
    se_layer = functools.partial(eb.SqueezeExcite, rd_channels=se) if se else None
    if kind == "ds":
        return eb.DepthwiseSeparableConv(cin, cout, dw_kernel_size=k, stride=stride, act_layer=a, se_layer=se_layer)
    if kind == "ir":
        return eb.InvertedResidual(cin, cout, dw_kernel_size=k, stride=stride, exp_ratio=mid / cin, act_layer=a, se_layer=se_layer)
    if kind == "er":
        return eb.EdgeResidual(cin, cout, exp_kernel_size=k, stride=stride, exp_ratio=mid / cin, act_layer=a, se_layer=se_layer)
    if kind == "cn":
        return eb.ConvBnAct(cin, cout, kernel_size=k, stride=stride, skip=skip, act_layer=a)
    return eb.UniversalInvertedResidual(
        cin, cout, dw_kernel_size_start=start, dw_kernel_size_mid=k, stride=stride, exp_ratio=mid / cin,
        act_layer=a, se_layer=se_layer, layer_scale_init_value=ls if ls else None)


def bottleneck_module(cin, cout, stride, groups, base_width):
    down = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
    return Bottleneck(cin, cout // 4, stride=stride, downsample=down, cardinality=groups, base_width=base_width)


class ConvNeXtAttentionBlock(nn.Module):
    """timm's ConvNeXtBlock (V2: GRN, no layer scale) with SE or ECA on
    the residual branch after the MLP: x + attn(mlp(norm(conv_dw(x)))).
    Takes and returns NCHW, as the other modules here."""

    def __init__(self, dim, kernel, se, eca):
        super().__init__()
        self.block = ConvNeXtBlock(dim, kernel_size=kernel, use_grn=True, ls_init_value=None)
        # Move the block's children up so the names are the block's own.
        for n, m in list(self.block.named_children()):
            self.add_module(n, m)
        if eca:
            self.eca = EcaModule(dim)
        else:
            self.se = eb.SqueezeExcite(dim, rd_channels=se, act_layer=nn.ReLU)
        del self.block

    def forward(self, x):
        y = self.conv_dw(x)
        y = nchw(self.mlp(self.norm(nhwc(y))))
        y = self.eca(y) if hasattr(self, "eca") else self.se(y)
        return x + y


def fill(m, r):
    """Draws every parameter and BatchNorm buffer of m (see the docstring)."""
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_mean"):
                v = r.normal(*t.shape, scale=0.3)
            elif name.endswith("running_var"):
                v = r.uniform(*t.shape, lo=0.5, hi=2.0)
            elif t.dim() >= 2:
                v = r.normal(*t.shape, scale=1 / math.sqrt(t[0].numel()))
            elif name.endswith(".weight") and is_batchnorm(m, name):
                v = r.normal(*t.shape, scale=0.25, shift=1.0)
            else:
                v = r.normal(*t.shape, scale=0.3)
            t.copy_(v)


def is_batchnorm(m, name):
    return isinstance(m.get_submodule(name.rsplit(".", 1)[0]), nn.BatchNorm2d)


def case(name, module, shape, meta, seed):
    r = Rng(seed)
    m = module.to(torch.float64)
    fill(m, r)
    n, h, w, c = shape
    x = r.normal(n, h, w, c)
    t = {k: v.clone().reshape(-1) if v.dim() == 0 else v.clone() for k, v in m.state_dict().items()}
    t["x"] = x
    dy = None
    for mode in ("eval", "train"):
        mm = copy.deepcopy(m)
        mm.train(mode == "train")
        xl = leaf(x)
        y = nhwc(mm(nchw(xl)))
        if dy is None:
            dy = r.normal(*y.shape)
            t["dy"] = dy
        params = list(mm.named_parameters())
        grads = torch.autograd.grad(y, [xl] + [p for _, p in params], grad_outputs=dy)
        t[mode + ".y"] = y
        t[mode + ".dx"] = grads[0]
        for (pn, _), g in zip(params, grads[1:]):
            t[f"{mode}.grad.{pn}"] = g
        if mode == "train":
            for bn, b in mm.named_buffers():
                t["train." + bn] = b.clone().reshape(b.shape or (1,))
    meta.update(N=n, H=h, W=w)
    write(OUT, name, t, meta)


def main():
    seed = 2100
    for name, kind, cin, cout, mid, k, start, stride, se, skip, act, ls, (n, h, w) in EFFICIENT:
        meta = dict(family="efficient", kind=kind, **{"in": cin}, out=cout, mid=mid, kernel=k, start_kernel=start,
                    stride=stride, se=se, skip=int(skip), act=act, layer_scale=ls, bn_eps=1e-5, bn_momentum=0.1)
        case(name, efficient_module(kind, cin, cout, mid, k, start, stride, se, skip, act, ls), (n, h, w, cin), meta, seed)
        seed += 1
    for name, cin, cout, stride, groups, base, (n, h, w) in BOTTLENECK:
        meta = dict(family="bottleneck", **{"in": cin}, out=cout, stride=stride, groups=groups, base_width=base)
        case(name, bottleneck_module(cin, cout, stride, groups, base), (n, h, w, cin), meta, seed)
        seed += 1
    for name, dim, k, se, eca, (n, h, w) in CONVNEXT:
        meta = dict(family="convnext", dim=dim, kernel=k, se=se, eca=int(eca), grn=1, eps=1e-6)
        case(name, ConvNeXtAttentionBlock(dim, k, se, eca), (n, h, w, dim), meta, seed)
        seed += 1
    golden.readme(OUT, "Golden data for the efficient blocks, the ResNet bottleneck and ConvNeXt V2 with attention",
                  INTRO.format(torch=torch.__version__))


INTRO = """Generated by `TIMM_SRC=DIR /usr/bin/python3 scripts/golden/efficient_blocks.py` (PyTorch {torch},
timm's modules from pytorch-image-models at commit aa4b5850 exported into DIR); do not edit by hand.
The script's docstring describes every tensor: the initial state dict by timm's names, `x`, `dy`,
and for MODE in eval and train `MODE.y`, `MODE.dx`, `MODE.grad.<param>`, plus `train.<buffer>`, the
BatchNorm buffers after the training step. Activations NHWC, weights in PyTorch's layouts, float32."""


if __name__ == "__main__":
    main()
