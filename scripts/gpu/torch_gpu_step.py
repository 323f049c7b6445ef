#!/usr/bin/env python3
"""Times ConvNeXt V2 training steps in PyTorch on a CUDA GPU, for comparison
with `train bench -backend cuda` (scripts/gpu/run.sh runs both and prints a
table).

The model is the one scripts/bench/torch_train_step.py defines (the official
facebookresearch/ConvNeXt-V2 architecture: NCHW convolutions, channels_first
LayerNorm in the stem and downsampling layers, NHWC Linear/GELU/GRN inside
the blocks, no drop path), imported from there so both comparisons time the
same network. A step is what `train bench` times: zero_grad, forward,
cross-entropy with label smoothing 0.1 on random data, backward and AdamW
(fused when this PyTorch has it, like nextconv's single AdamW launch).

Options choose how PyTorch runs it:
  --mode eager|compile     eager or torch.compile(model) (PyTorch >= 2.0)
  --precision fp32|tf32|bf16
                           fp32: TF32 off for matmuls and cuDNN convolutions;
                           tf32: TF32 on for both; bf16: autocast to bfloat16
                           (weights and AdamW stay float32)
  --channels-last          model and input in channels_last memory format
                           (NHWC, nextconv's layout)
  --device cuda|cpu        cpu is a dry run for machines without a GPU
                           (scripts/gpu/selftest.sh): the same step under CPU
                           autocast, to prove the script runs; its times mean
                           nothing (PyTorch 1.13's CPU autocast leaves
                           layer_norm out, so a bf16 dry run fails there;
                           the self-test dry-runs fp32)
Prints one JSON object.

Usage: python3 scripts/gpu/torch_gpu_step.py --variant atto --size 224 --batch 128 \
           --mode eager --precision fp32 --channels-last
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_train_step import VARIANTS, convnextv2  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="atto", choices=VARIANTS)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--stem", type=int, default=4)
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--mode", default="eager", choices=["eager", "compile"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    a = p.parse_args()
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("torch_gpu_step.py: this PyTorch has no usable CUDA device")

    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    dev = torch.device(a.device)
    depths, dims = VARIANTS[a.variant]
    model = convnextv2(depths, dims, a.in_chans, a.classes, a.stem).to(dev)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=True)
        fused = True
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
        fused = False
    run = model
    if a.mode == "compile":
        if not hasattr(torch, "compile"):
            sys.exit("torch_gpu_step.py: --mode compile needs PyTorch >= 2.0 (this is %s)" % torch.__version__)
        run = torch.compile(model)
    x = torch.randn(a.batch, a.in_chans, a.size, a.size, device=dev).to(memory_format=fmt)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = F.cross_entropy(run(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    sync()
    warm_s = time.perf_counter() - t0
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    if cuda:
        end.record()
    sync()
    wall_ms = (time.perf_counter() - t0) * 1e3 / a.steps
    gpu_ms = start.elapsed_time(end) / a.steps if cuda else None
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if cuda else "none (cpu dry run)",
        "model": "convnextv2_" + a.variant, "mode": a.mode, "precision": a.precision,
        "layout": "channels_last" if a.channels_last else "NCHW", "fused_adamw": fused,
        "batch": a.batch, "size": a.size, "steps": a.steps, "warmup_s": warm_s,
        "step_ms": wall_ms, "gpu_step_ms": gpu_ms, "img_per_s": a.batch / (wall_ms / 1e3),
        "max_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }))


if __name__ == "__main__":
    main()
