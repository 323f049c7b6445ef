#!/usr/bin/python3
"""Times ConvNeXt V2 training steps in PyTorch on the CPU, for comparison with
`train bench` (scripts/bench/cpu_vs_torch.sh runs both and prints the ratio).

The model is the official facebookresearch/ConvNeXt-V2 models/convnextv2.py
architecture (NCHW convolutions, channels_first LayerNorm in the stem and
downsampling, NHWC Linear/GRN inside blocks), as scripts/golden/models.py
writes it out for the golden checkpoints, so the script needs only torch. A step is zero_grad, forward, cross-entropy with label
smoothing 0.1, backward and torch.optim.AdamW, exactly what `train bench`
times. Prints one JSON object.

Usage: /usr/bin/python3 torch_train_step.py --variant atto --size 28 --stem 2
       --in-chans 1 --classes 10 --batch 128 --steps 5 --warmup 2 --threads 2
"""
import argparse
import json
import os
import time

import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
from models import ConvNeXt  # noqa: E402

VARIANTS = {
    "atto": ([2, 2, 6, 2], [40, 80, 160, 320]),
    "femto": ([2, 2, 6, 2], [48, 96, 192, 384]),
    "pico": ([2, 2, 6, 2], [64, 128, 256, 512]),
    "nano": ([2, 2, 8, 2], [80, 160, 320, 640]),
    "tiny": ([3, 3, 9, 3], [96, 192, 384, 768]),
}


def convnextv2(depths, dims, in_chans, classes, stem):
    """The official ConvNeXt V2 at the given depths and widths, with in_chans
    input channels and a stem×stem patchify stem."""
    return ConvNeXt(depths, dims, classes, True, in_chans=in_chans, stem=stem)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="atto", choices=VARIANTS)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--stem", type=int, default=2)
    p.add_argument("--in-chans", type=int, default=1)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    depths, dims = VARIANTS[a.variant]
    model = convnextv2(depths, dims, a.in_chans, a.classes, a.stem)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(a.batch, a.in_chans, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    step = sum(times) / len(times)
    print(json.dumps({"model": "convnextv2_" + a.variant, "backend": "pytorch-%s-cpu-%dthreads" % (torch.__version__, a.threads),
                      "blas": loaded_blas(),
                      "batch": a.batch, "size": a.size, "steps": a.steps, "step_ms": step * 1e3,
                      "img_per_s": a.batch / step}))


def loaded_blas():
    """loaded_blas names the BLAS library mapped into this process.

    torch.__config__ reports the build-time BLAS ("generic" for Debian's
    torch, which links libblas.so.3); the library behind that name is chosen
    at run time by update-alternatives, so read it from the memory map."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in os.path.basename(line.split()[-1])}
    return ",".join(sorted(os.path.realpath(p) for p in paths)) or "none"


if __name__ == "__main__":
    main()
