"""Prints the PyTorch 1.13 (float64) golden values of TestAdamWMatchesPyTorch.

Run with the Python that has torch (Debian: /usr/bin/python3):

    /usr/bin/python3 kernels/cpu/testdata/adamw_golden.py

Two parameter groups (lr 0.1 with weight decay 0.05; lr 0.03 without), three
steps of torch.optim.AdamW(foreach=False) with the gradients printed as g1..g3.
"""
import torch

torch.manual_seed(1)
p0 = torch.randn(6, dtype=torch.float64)
grads = [torch.randn(6, dtype=torch.float64) for _ in range(3)]
a = p0[:4].clone().requires_grad_(True)
b = p0[4:].clone().requires_grad_(True)
opt = torch.optim.AdamW(
    [{"params": [a], "lr": 0.1, "weight_decay": 0.05},
     {"params": [b], "lr": 0.03, "weight_decay": 0.0}],
    betas=(0.9, 0.999), eps=1e-8, foreach=False)
for g in grads:
    a.grad = g[:4].clone()
    b.grad = g[4:].clone()
    opt.step()


def lit(name, t):
    vals = ", ".join(repr(v) for v in t.detach().reshape(-1).tolist())
    print("\t%s := []float64{%s}" % (name, vals))


lit("p0", p0)
for i, g in enumerate(grads):
    lit("g%d" % (i + 1), g)
lit("wantP", torch.cat([a, b]))
lit("wantM", torch.cat([opt.state[a]["exp_avg"], opt.state[b]["exp_avg"]]))
lit("wantV", torch.cat([opt.state[a]["exp_avg_sq"], opt.state[b]["exp_avg_sq"]]))
