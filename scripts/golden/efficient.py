#!/usr/bin/python3
"""Golden data for the four timm baselines of the efficient-ConvNeXt study:
efficientnet_b0, efficientnetv2_rw_t, mobilenetv4_conv_small and
mobilenetv4_conv_medium (docs/EFFICIENT.md).

Run from the repository root with the system Python that has PyTorch 1.13,
pointing TIMM_SRC at a folder holding timm's `timm/` package exported from
huggingface/pytorch-image-models at commit aa4b5850 (`git archive aa4b5850
timm | tar -x -C DIR`):

    TIMM_SRC=DIR /usr/bin/python3 scripts/golden/efficient.py

For each model it builds timm's own module at 1000 classes in eval mode,
asserts the published parameter count, fills every parameter and buffer with
the deterministic formula below, runs a deterministic input and writes
models/testdata/golden/efficient/<model>.json:

- "params": the number of parameter elements (buffers excluded);
- "tensors": every state-dict entry in order as [name, shape, dtype]
  ("float32" or "int64"; the int64 entries are BatchNorm's
  num_batches_tracked, which inference ignores);
- "inputs": one or two inputs, each with "shape" (NCHW) and "logits"
  ([N, 1000], row-major, float64), computed in float64 from exactly the float32
  weights and input.

No weights are committed: the Go test rebuilds the same float32 values from
the same formula, writes them as a timm-named safetensors file and runs
`train forward` on it.

The formula (fill). For a tensor named NAME with n elements in PyTorch's
row-major order, seed = FNV-1a-64(NAME as UTF-8). Element i takes
z = seed + (i+1)·0x9E3779B97F4A7C15 (mod 2^64), mixed by SplitMix64's
finaliser; k = z >> 40 (24 bits); u = (k − 2^23)/2^23 ∈ [−1, 1), exact in
float32. The value, computed in float64 and rounded once to float32:

- running_var:            0.5 + 0.25·(u + 1)      ∈ [0.5, 1)
- running_mean:           0.1·u
- any other 1-D .weight:  1 + 0.25·u               (BatchNorm γ)
- any other 1-D tensor:   0.1·u                    (biases, BatchNorm β)
- tensors of 2 or more dims: gain·u·2^−e with e = (bit_length(fan_in) − 1) // 2
  and fan_in = the product of the dims after the first (a power-of-two
  stand-in for 1/sqrt(fan_in), so the product is exact).

gain, a multiple of 1/16 in [1, 2] stored in the JSON as "gain", is the
first that gives logits with a standard deviation of at least 1: it keeps the
signal from fading or exploding through the 50-odd layers of these networks
with eval-mode BatchNorm. The script prints the logits' spread and
the difference between the two images' logits to show that both depend on
the input. The input is u itself for the name "input", in NCHW order.
"""

import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "testdata", "golden", "efficient")

MODELS = {
    "efficientnet_b0": 5_288_548,
    "efficientnetv2_rw_t": 13_649_388,
    "mobilenetv4_conv_small": 3_774_024,
    "mobilenetv4_conv_medium": 9_715_512,
}
GAINS = [1 + j / 16 for j in range(17)]  # tried in order; the first with logits std >= 1 is kept
MASK = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


def uniform(name, n):
    """u ∈ [−1, 1) for elements 0..n−1 of the tensor named name, float64."""
    seed = np.uint64(fnv1a64(name))
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = seed + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.int64)
    return (k - (1 << 23)).astype(np.float64) / float(1 << 23)


def fill(name, shape, gain=1.0):
    """The float32 values the formula gives the tensor name of shape."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        v = gain * u * 2.0 ** -((fan_in.bit_length() - 1) // 2)
    elif name.endswith("running_var"):
        v = 0.5 + 0.25 * (u + 1)
    elif name.endswith("running_mean"):
        v = 0.1 * u
    elif name.endswith(".weight"):
        v = 1 + 0.25 * u
    else:
        v = 0.1 * u
    return v.astype(np.float32).reshape(shape)


def build(timm, name, count, gain):
    m = timm.create_model(name, num_classes=1000)
    m.eval()
    params = sum(p.numel() for p in m.parameters())
    assert params == count, f"{name}: {params} parameters, want {count}"
    tensors = []
    with torch.no_grad():
        for k, t in m.state_dict().items():
            shape = list(t.shape)
            if t.dtype == torch.int64:
                tensors.append([k, shape, "int64"])
                continue
            assert t.dtype == torch.float32, (k, t.dtype)
            t.copy_(torch.from_numpy(fill(k, shape, gain)))
            tensors.append([k, shape, "float32"])
    return m.double(), params, tensors


def run(m, shape):
    x = torch.from_numpy(uniform("input", int(np.prod(shape))).astype(np.float32).reshape(shape)).double()
    with torch.no_grad():
        y = m(x)
    return y


def main():
    src = os.environ.get("TIMM_SRC")
    if not src:
        sys.exit("set TIMM_SRC to a folder holding timm's timm/ package at commit aa4b5850")
    sys.path.insert(0, src)
    import timm

    print("timm", timm.__version__, "torch", torch.__version__)
    os.makedirs(OUT, exist_ok=True)
    for name, count in MODELS.items():
        for gain in GAINS:
            m, params, tensors = build(timm, name, count, gain)
            if run(m, [2, 3, 64, 64]).std().item() >= 1:
                break
        shapes = [[2, 3, 64, 64]]
        if name == "efficientnet_b0":
            shapes.append([1, 3, 224, 224])
        inputs = []
        for s in shapes:
            y = run(m, s)
            d = (y[0] - y[1]).abs().mean().item() if s[0] > 1 else float("nan")
            print(f"{name} {s} gain {gain}: logits std {y.std().item():.4g}, mean |y0 - y1| {d:.4g}")
            inputs.append({"shape": s, "logits": y.flatten().tolist()})
        doc = {
            "model": name,
            "timm_commit": "aa4b5850",
            "params": params,
            "gain": gain,
            "tensors": tensors,
            "inputs": inputs,
        }
        path = os.path.join(OUT, name + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, path)
        print("wrote", os.path.relpath(path, ROOT), params, "params", len(tensors), "tensors")


if __name__ == "__main__":
    main()
