#!/usr/bin/python3
"""Golden data for timm's ResNet baselines (resnet50, resnext50_32x4d), for
backbone features (Model.Features) of resnet50 and convnext_tiny, and for
the ConvNeXt roadmap's last step (convnext_tiny's logits).

Run from the repository root with the system Python that has PyTorch 1.13
and TIMM_SRC pointing at timm's `timm/` package from
huggingface/pytorch-image-models at commit aa4b5850, as for efficient.py:

    TIMM_SRC=DIR /usr/bin/python3 scripts/golden/resnet.py [logits] [features] [roadmap]

(all three parts when none is named).

Weights and inputs come from efficient.py's formula (fill, uniform; its
docstring defines them), with the same gain search, so no weights are
committed. It writes:

- models/testdata/golden/resnet/<model>.json for resnet50 and
  resnext50_32x4d, in efficient.py's format (params, gain, the state dict's
  names, shapes and dtypes, and float64 logits for a [2, 3, 64, 64] input);
- models/testdata/golden/features/<model>.safetensors for resnet50,
  convnext_tiny, efficientnet_b0 and mobilenetv4_conv_small: timm's
  features_only=True model (out_indices (1, 2, 3, 4) for ResNet, whose index
  0 is the stride-2 stem activation; (0, 1, 2, 3) for ConvNeXt; (0, 1, 2, 3,
  4) for the EfficientNet/MobileNet baselines, timm's default: the ends of
  the stages before each stride change, reductions 2 to 32), loaded with the
  full model's formula weights, run in float64 on the formula input of shape
  [1, 3, 32, 48] (a non-square input catches a swapped H and W); tensors
  "features.I" for I = 0, 1, ... (the position in the list, strides 4, 8,
  16, 32 for ResNet and ConvNeXt) in NHWC, float32, and metadata "gain" and
  "input" (the NCHW shape);
- models/testdata/golden/roadmap/convnext_tiny.json: convnext_tiny's logits
  in the resnet/ files' format, for the roadmap's last step
  (roadmap_12_convnext_tiny).
"""

import json
import os
import re
import struct
import sys

import numpy as np
import torch

import efficient

ROOT = efficient.ROOT
LOGITS_DIR = os.path.join(ROOT, "models", "testdata", "golden", "resnet")
ROADMAP_DIR = os.path.join(ROOT, "models", "testdata", "golden", "roadmap")
FEATURES_DIR = os.path.join(ROOT, "models", "testdata", "golden", "features")

MODELS = {"resnet50": 25_557_032, "resnext50_32x4d": 25_028_904}
ROADMAP = {"convnext_tiny": 28_589_128}
FEATURES = {
    "resnet50": (25_557_032, (1, 2, 3, 4)),
    "convnext_tiny": (28_589_128, (0, 1, 2, 3)),
    "efficientnet_b0": (5_288_548, (0, 1, 2, 3, 4)),
    "mobilenetv4_conv_small": (3_774_024, (0, 1, 2, 3, 4)),
}
FEATURE_INPUT = [1, 3, 32, 48]


def with_gain(timm, name, count):
    """The full model filled by the formula with the first gain whose logits
    on [2, 3, 64, 64] have a standard deviation of at least 1."""
    for gain in efficient.GAINS:
        m, params, tensors = efficient.build(timm, name, count, gain)
        if efficient.run(m, [2, 3, 64, 64]).std().item() >= 1:
            break
    return m, params, tensors, gain


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def write_safetensors(path, tensors, meta):
    """tensors: name -> float64 numpy array, written as little-endian F32."""
    header = {"__metadata__": meta}
    blobs, offset = [], 0
    for k, v in tensors.items():
        raw = np.ascontiguousarray(v, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def logits(timm, models=MODELS, out=LOGITS_DIR):
    os.makedirs(out, exist_ok=True)
    for name, count in models.items():
        m, params, tensors, gain = with_gain(timm, name, count)
        y = efficient.run(m, [2, 3, 64, 64])
        print(f"{name} gain {gain}: logits std {y.std().item():.4g}, mean |y0 - y1| {(y[0] - y[1]).abs().mean().item():.4g}")
        write_json(os.path.join(out, name + ".json"), {
            "model": name, "timm_commit": "aa4b5850", "params": params, "gain": gain,
            "tensors": tensors, "inputs": [{"shape": [2, 3, 64, 64], "logits": y.flatten().tolist()}],
        })
        print("wrote", name, params, "params")


def features(timm):
    os.makedirs(FEATURES_DIR, exist_ok=True)
    for name, (count, out_indices) in FEATURES.items():
        full, _, _, gain = with_gain(timm, name, count)
        sd = full.state_dict()
        fm = timm.create_model(name, features_only=True, out_indices=out_indices)
        # features_only flattens nn.Sequential names: stem_0.*, stages_1.* are stem.0.*, stages.1.*.
        fm.load_state_dict({k: sd[re.sub(r"^([a-z]+)_(\d+)\.", r"\1.\2.", k)] for k in fm.state_dict()})
        fm = fm.double().eval()
        n = int(np.prod(FEATURE_INPUT))
        x = torch.from_numpy(efficient.uniform("input", n).astype(np.float32).reshape(FEATURE_INPUT)).double()
        with torch.no_grad():
            outs = fm(x)
        tensors = {}
        for i, o in enumerate(outs):
            tensors[f"features.{i}"] = o.permute(0, 2, 3, 1).numpy()
            print(f"{name} features.{i} NCHW {list(o.shape)} std {o.std().item():.4g}")
        write_safetensors(os.path.join(FEATURES_DIR, name + ".safetensors"), tensors,
                          {"gain": repr(gain), "input": json.dumps(FEATURE_INPUT), "timm_commit": "aa4b5850"})


def main():
    src = os.environ.get("TIMM_SRC")
    if not src:
        sys.exit("set TIMM_SRC to a folder holding timm's timm/ package at commit aa4b5850")
    sys.path.insert(0, src)
    import timm

    print("timm", timm.__version__, "torch", torch.__version__)
    parts = set(sys.argv[1:]) or {"logits", "features", "roadmap"}
    if parts - {"logits", "features", "roadmap"}:
        sys.exit(f"unknown part(s) {sorted(parts)}: want logits, features or roadmap")
    if "logits" in parts:
        logits(timm)
    if "features" in parts:
        features(timm)
    if "roadmap" in parts:
        logits(timm, ROADMAP, ROADMAP_DIR)


if __name__ == "__main__":
    main()
