#!/usr/bin/python3
"""Golden data for nextconv's BatchNorm2d and elementwise activations,
computed with PyTorch autograd.

Run from the repository root with the system Python that has PyTorch 1.13:

    /usr/bin/python3 scripts/golden/batchnorm.py

It rewrites kernels/cpu/testdata/golden/activation.safetensors and
layers/testdata/golden/batchnorm2d.safetensors, plus an index (.md) next to
each. Deterministic: fixed seeds, no timestamps. It reuses golden.py's writer
and precision rule: inputs are drawn in float64 and rounded to float32,
outputs and gradients computed by torch in float64 from those values and
rounded to float32 when written.

activation: x [4, 3, 5, 7] (NHWC) normal with scale 4, with its first
elements set to the kinks and edges -6, -3, -1e-3, 0, 1e-3, 3, 6 and a few
large values, and dy; for each kind K of relu, relu6, silu, hardswish,
hardsigmoid, sigmoid: y_K = K(x) and dx_K = dy·K'(x) by autograd, which
defines the derivative at the kinks (ReLU 0 at 0; ReLU6 0 at 0 and 6;
Hardswish -1/2 at -3 and 3/2 at 3; Hardsigmoid 0 at ±3). Hardswish's
gradient comes from PyTorch's scalar kernel (see hardswish_grad_scalar):
its vectorized CPU kernel alone gives 1 at x = 3.

batchnorm2d: nn.BatchNorm2d(C=5) with PyTorch's defaults (eps 1e-5,
momentum 0.1), random weight and bias, running_mean and running_var set to
random values (var positive). Two training steps on x1, x2 [N=3, H=4, W=3,
C=5] (x2 with a large common offset per channel, to test the statistics'
stability) with upstream gradients dy1, dy2: y1, dx1, y2, dx2, and the
parameter gradients of each step alone (dweight1, dbias1, dweight2,
dbias2); the running statistics and num_batches_tracked after each step
(running_mean1, running_var1, ..., nbt2). Then evaluation on x3 [2, 3, 1, 5]
with dy3: y3, dx3, dweight3, dbias3. Initial values: weight, bias,
running_mean0, running_var0. All activations NHWC.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402  (its writer, Rng and layout helpers)
from golden import Rng, leaf, nchw, nhwc, write  # noqa: E402

KINDS = {
    "relu": F.relu,
    "relu6": F.relu6,
    "silu": F.silu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "sigmoid": torch.sigmoid,
}

ACT_DIR = golden.OPS_DIR
BN_DIR = golden.BLOCKS_DIR


def hardswish_grad_scalar(x, dy, dx_vec):
    """Hardswish's gradient element by element, one-element tensors, so that
    PyTorch's scalar kernel runs. PyTorch 1.13's CPU hardswish_backward has
    two paths that disagree at x = 3: the scalar one (and the CUDA kernel)
    returns dy·(3/3 + 1/2) = 3/2·dy, the AVX one (self >= 3 → dy) returns
    dy. nextconv follows the scalar and CUDA definition; this checks that
    x = 3 is the only difference."""
    out = torch.empty_like(dx_vec)
    for i, (xv, g) in enumerate(zip(x.reshape(-1), dy.reshape(-1))):
        xl = leaf(xv.reshape(1))
        (d,) = torch.autograd.grad(F.hardswish(xl), xl, grad_outputs=g.reshape(1))
        out.view(-1)[i] = d[0]
    differ = (out != dx_vec).reshape(-1)
    assert bool((x.reshape(-1)[differ] == 3).all()), "hardswish paths differ off x = 3"
    return out


def activation_case():
    r = Rng(1400)
    x = r.normal(4, 3, 5, 7, scale=4.0)
    edges = torch.tensor([-6.0, -3.0, -1e-3, 0.0, 1e-3, 3.0, 6.0, -30.0, 30.0, -100.0, 100.0, 2.5, -2.5])
    x.view(-1)[: len(edges)] = golden.f32(edges)
    dy = r.normal(*x.shape)
    t = {"x": x, "dy": dy}
    for name, f in KINDS.items():
        xl = leaf(x)
        y = f(xl)
        (dx,) = torch.autograd.grad(y, xl, grad_outputs=dy)
        if name == "hardswish":
            dx = hardswish_grad_scalar(x, dy, dx)
        t["y_" + name] = y
        t["dx_" + name] = dx
    write(ACT_DIR, "activation", t, dict(op="activation", kinds=",".join(KINDS)))


def batchnorm_case():
    r = Rng(1500)
    n, h, w, c = 3, 4, 3, 5
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.copy_(r.normal(c, scale=0.5, shift=1.0))
        bn.bias.copy_(r.normal(c, scale=0.5))
        bn.running_mean.copy_(r.normal(c, scale=0.3))
        bn.running_var.copy_(r.uniform(c, lo=0.5, hi=2.0))
    t = {"weight": bn.weight, "bias": bn.bias, "running_mean0": bn.running_mean.clone(), "running_var0": bn.running_var.clone()}
    x1 = r.normal(n, h, w, c, scale=2.0)
    x2 = golden.f32(r.normal(n, h, w, c, scale=0.5) + 100.0 * torch.arange(1, c + 1))
    x3 = r.normal(2, 3, 1, c, scale=1.5)
    bn.train()
    for step, x in ((1, x1), (2, x2), (3, x3)):
        if step == 3:
            bn.eval()
        xl = leaf(x)
        y = nhwc(bn(nchw(xl)))
        dy = r.normal(*y.shape)
        dx, dwt, db = torch.autograd.grad(y, (xl, bn.weight, bn.bias), grad_outputs=dy)
        t.update({f"x{step}": x, f"dy{step}": dy, f"y{step}": y, f"dx{step}": dx, f"dweight{step}": dwt, f"dbias{step}": db})
        if step < 3:
            t[f"running_mean{step}"] = bn.running_mean.clone()
            t[f"running_var{step}"] = bn.running_var.clone()
            t[f"nbt{step}"] = bn.num_batches_tracked.to(torch.float64).reshape(1)
    write(BN_DIR, "batchnorm2d", t, dict(op="batchnorm2d", N=n, H=h, W=w, C=c, eps=bn.eps, momentum=bn.momentum))


def index(folder, name):
    """Writes folder/name.md listing the tensors of name.safetensors."""
    for f, n, meta, tensors in golden.INDEX:
        if f == folder and n == name:
            lines = [f"# {name}.safetensors", "",
                     f"Generated by `/usr/bin/python3 scripts/golden/batchnorm.py` (PyTorch {torch.__version__});",
                     "do not edit by hand. The script's docstring describes every tensor.", "",
                     "Metadata: " + ", ".join(f"{k}={v}" for k, v in meta.items()), "",
                     "| tensor | shape |", "|---|---|"]
            lines += [f"| `{k}` | {s} |" for k, s in tensors]
            with open(os.path.join(folder, name + ".md"), "w") as out:
                out.write("\n".join(lines) + "\n")


def main():
    activation_case()
    batchnorm_case()
    index(ACT_DIR, "activation")
    index(BN_DIR, "batchnorm2d")


if __name__ == "__main__":
    main()
