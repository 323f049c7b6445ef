"""Prints the PyTorch 1.13 (float64) golden values of TestGRNMatchesPyTorch.

Run with the Python that has torch (Debian: /usr/bin/python3):

    /usr/bin/python3 kernels/cpu/testdata/grn_golden.py

GRN is the official ConvNeXt-V2 models/utils.py GRN on NHWC input; sample 1
is all zeros, to pin the zero-norm gradient convention.
"""
import torch

torch.manual_seed(0)
N, H, W, C = 3, 1, 3, 4
x = torch.randn(N, H, W, C, dtype=torch.float64)
x[1] = 0
x.requires_grad_(True)
gamma = torch.randn(1, 1, 1, C, dtype=torch.float64, requires_grad=True)
beta = torch.randn(1, 1, 1, C, dtype=torch.float64, requires_grad=True)
r = torch.randn(N, H, W, C, dtype=torch.float64)

Gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
Nx = Gx / (Gx.mean(dim=-1, keepdim=True) + 1e-6)
y = gamma * (x * Nx) + beta + x
(y * r).sum().backward()


def lit(name, t):
    vals = ", ".join(repr(v) for v in t.detach().reshape(-1).tolist())
    print("\t%s := []float64{%s}" % (name, vals))


lit("x", x)
lit("gamma", gamma)
lit("beta", beta)
lit("r", r)
lit("wantY", y)
lit("wantDx", x.grad)
lit("wantDgamma", gamma.grad)
lit("wantDbeta", beta.grad)
