#!/usr/bin/python3
"""Learning-rate schedules from PyTorch 1.13's own schedulers, for
optim.Cosine's test (optim/schedule_test.go).

Run from the repository root: /usr/bin/python3 scripts/golden/schedule.py
It writes optim/testdata/schedule.json: for each case the learning rate
torch.optim's scheduler machinery sets before each of `total` steps.

  cosine:        CosineAnnealingLR(T_max=total, eta_min)            (no warmup)
  warmup_cosine: SequentialLR([LinearLR(start_factor=1e-12, end_factor=1,
                 total_iters=warmup), CosineAnnealingLR(T_max=total-warmup,
                 eta_min)], milestones=[warmup])  — the linear warmup from 0
                 of ConvNeXt V2's adjust_learning_rate followed by its cosine
"""
import json
import os
import warnings

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def lrs(make, base, total):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched.step()
    return out


def main():
    S = torch.optim.lr_scheduler
    cases = []
    for base, eta_min, total in [(4e-3, 1e-6, 50), (1e-3, 0.0, 17)]:
        cases.append({"name": "cosine", "base": base, "min": eta_min, "warmup": 0, "total": total,
                      "lr": lrs(lambda o: S.CosineAnnealingLR(o, T_max=total, eta_min=eta_min), base, total)})
    for base, eta_min, warmup, total in [(4e-3, 1e-5, 10, 60), (8e-4, 1e-6, 3, 20)]:
        def make(o, warmup=warmup, total=total, eta_min=eta_min):
            return S.SequentialLR(o, [S.LinearLR(o, start_factor=1e-12, end_factor=1.0, total_iters=warmup),
                                      S.CosineAnnealingLR(o, T_max=total - warmup, eta_min=eta_min)],
                                  milestones=[warmup])
        cases.append({"name": "warmup_cosine", "base": base, "min": eta_min, "warmup": warmup, "total": total,
                      "lr": lrs(make, base, total)})
    path = os.path.join(ROOT, "optim", "testdata", "schedule.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
