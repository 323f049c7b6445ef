#!/usr/bin/python3
"""Golden data for nextconv's fake quantization ops, qparams and observers.

Run from the repository root with the system Python that has PyTorch 1.13:

    /usr/bin/python3 scripts/golden/fakequant.py

It rewrites kernels/cpu/testdata/golden/fakequant_*.safetensors and
fakequant.md (the index of those files). Deterministic: fixed seeds, no
timestamps. golden.py owns the other files of that folder and its README.

Every value here is computed by PyTorch in float32, the only precision its
fake-quant ops have:

- fakequant_tensor_*: torch.fake_quantize_per_tensor_affine, y and dx.
- fakequant_channel_*: torch.fake_quantize_per_channel_affine, y and dx.
- fakequant_lsq_tensor_*: torch._fake_quantize_learnable_per_tensor_affine,
  y, dx, dscale, dzero_point.
- fakequant_lsq_channel_*: torch._fake_quantize_learnable_per_channel_affine,
  the same four.
- fakequant_qparams: UniformQuantizationObserverBase._calculate_qparams over a
  table of ranges, for several integer grids and schemes.
- fakequant_ema_*: MovingAverage(PerChannel)MinMaxObserver over a few
  batches: the running range and qparams after each.

Layout. Each op case stores x with the shape it was quantized in and the
QuantShape view in the metadata (outer, channels, inner, qmin, qmax, axis);
scale and zero_point are [channels] float32 (zero points as floats). dy is the
upstream gradient; dx, dscale, dzero_point the gradients of sum(y·dy).

Inputs. x is drawn so that about a tenth of its elements fall outside the
integer grid on each side, and a set of elements is placed on exact ties
(x·(1/s) == k + 0.5 in float32, so that round-half-to-even decides) and on
the last grid points inside and the first outside each end.

Two deliberate restrictions, both because PyTorch's CPU learnable backward
rounds nearbyint(zero_point + x/s), contracted into one fused multiply-add
(and the per-tensor one truncates zero_point + 0.5), while its forward rounds
nearbyint(x/s) + zero_point: the learnable cases use even, non-negative
rounded zero points, and elements where the two roundings still disagree (an
exact product just off a half-integer) are nudged away. nextconv's backward
follows the forward, as PyTorch's CUDA kernel does; the two agree on
everything stored here.
"""

import json
import math
import os
import struct

import numpy as np
import torch
from torch.ao.quantization.observer import (
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "kernels", "cpu", "testdata", "golden")
INDEX = []
F32 = np.float32


def write(name, tensors, meta):
    """Writes tensors (ordered dict name -> tensor/array) as float32
    safetensors OUT_DIR/name.safetensors with string metadata."""
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    blobs, offset = [], 0
    for key, t in tensors.items():
        a = np.ascontiguousarray(torch.as_tensor(t).detach().to(torch.float32).numpy())
        if not np.isfinite(a).all():
            raise ValueError(f"{name}/{key}: non-finite value")
        raw = a.astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(OUT_DIR, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    INDEX.append((name, meta, [(k, list(torch.as_tensor(t).shape)) for k, t in tensors.items()]))


# --------------------------------------------------------------------------
# Inputs


def view(shape, axis):
    """The [outer, channels, inner] view of shape along axis (-1: per tensor)."""
    n = int(np.prod(shape))
    if axis < 0:
        return 1, 1, n
    return int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1:]))


def fwd_q(x, s, z):
    """PyTorch's forward integer nearbyint(x·(1/s)) + z in float32."""
    inv = F32(1) / F32(s)
    return np.rint(F32(x) * inv) + F32(z)


def bwd_q(x, s, z):
    """PyTorch's CPU learnable-backward integer nearbyint(z + x·(1/s)). Its
    build contracts z + x·inv into one fused multiply-add (checked: a tie of
    x·inv rounded to k + 0.5 whose exact product lies below it rounds the
    other way), emulated here with the exact product in float64 and one
    rounding to float32."""
    inv = F32(1) / F32(s)
    return np.rint(F32(np.float64(x) * np.float64(inv) + np.float64(z)))


def tie(k, s):
    """A float32 x with x·(1/s) == k + 0.5 exactly in float32, or None."""
    inv = F32(1) / F32(s)
    x = F32((k + 0.5) * float(s))
    for _ in range(8):
        p = x * inv
        if p == F32(k + 0.5):
            return x
        x = np.nextafter(x, F32(np.inf) if p < F32(k + 0.5) else F32(-np.inf))
    return None


def make_x(rng, shape, axis, scales, zps, qmin, qmax, learnable):
    """Random x of shape whose channel c (along axis) spans the grid of
    (scales[c], zps[c]) with ten steps to spare at each end, plus ties and
    boundary points; nudged where the learnable backward would round
    differently (see the module doc)."""
    outer, C, inner = view(shape, axis)
    x = np.empty((outer, C, inner), dtype=F32)
    for c in range(C):
        s, z = F32(scales[c]), float(zps[c])
        lo, hi = (qmin - z - 10) * float(s), (qmax - z + 10) * float(s)
        x[:, c, :] = rng.uniform(lo, hi, size=(outer, inner)).astype(F32)
        flat = x[:, c, :].reshape(-1)
        special = []
        for k in list(range(-4, 4)) + [qmin - int(z) - 1, qmax - int(z), qmin - int(z) - 2, qmax - int(z) + 1]:
            t = tie(k, s)
            if t is not None:
                special.append(t)
        for q in (qmin, qmin - 1, qmax, qmax + 1):
            special.append(F32((q - z) * float(s)))
        idx = rng.choice(flat.size, size=min(len(special), flat.size), replace=False)
        flat[idx] = np.array(special[: len(idx)], dtype=F32)
        if learnable:
            for i in range(flat.size):
                while fwd_q(flat[i], s, z) != bwd_q(flat[i], s, z):
                    flat[i] = np.nextafter(flat[i], F32(np.inf))
        x[:, c, :] = flat.reshape(outer, inner)
    # back to the tensor's own shape: [outer, C, inner] is its row-major view
    return torch.from_numpy(x.reshape(shape).copy())


def count_ties(x, shape, axis, scales, zps):
    outer, C, inner = view(shape, axis)
    v = x.numpy().reshape(outer, C, inner)
    n = 0
    for c in range(C):
        p = v[:, c, :] * (F32(1) / F32(scales[c]))
        n += int(np.sum(p - np.floor(p) == F32(0.5)))
    return n


# --------------------------------------------------------------------------
# Op cases


def op_case(name, seed, shape, axis, scales, zps, qmin, qmax, learnable, grad_factor=1.0):
    rng = np.random.default_rng(seed)
    scales = np.array(scales, dtype=F32)
    zps = np.array(zps, dtype=F32)
    rounded = np.clip(np.rint(zps), qmin, qmax)
    x = make_x(rng, shape, axis, scales, rounded, qmin, qmax, learnable)
    dy = torch.from_numpy(rng.uniform(-1, 1, size=shape).astype(F32))
    xr = x.clone().requires_grad_(True)
    st = torch.from_numpy(scales.copy())
    zt = torch.from_numpy(zps.copy())
    out = {}
    if learnable:
        st.requires_grad_(True)
        zt.requires_grad_(True)
        if axis < 0:
            y = torch._fake_quantize_learnable_per_tensor_affine(xr, st, zt, qmin, qmax, grad_factor)
        else:
            y = torch._fake_quantize_learnable_per_channel_affine(xr, st, zt, axis, qmin, qmax, grad_factor)
    elif axis < 0:
        y = torch.fake_quantize_per_tensor_affine(xr, float(scales[0]), int(rounded[0]), qmin, qmax)
    else:
        y = torch.fake_quantize_per_channel_affine(xr, st, torch.from_numpy(rounded.astype(np.int32)), axis, qmin, qmax)
    (y * dy).sum().backward()
    out = {"x": x, "scale": torch.from_numpy(scales), "zero_point": torch.from_numpy(zps), "dy": dy, "y": y, "dx": xr.grad}
    if learnable:
        out["dscale"] = st.grad
        out["dzero_point"] = zt.grad
    outer, C, inner = view(shape, axis)
    meta = {"outer": outer, "channels": C, "inner": inner, "qmin": qmin, "qmax": qmax, "axis": axis,
            "grad_factor": repr(float(grad_factor)), "ties": count_ties(x, shape, axis, scales, rounded),
            "clipped": int((xr.grad == 0).sum())}
    write(name, out, meta)


def ops():
    # Per tensor: symmetric int8 activations; affine uint8 with a zero point.
    op_case("fakequant_tensor_int8", 1, (2, 5, 7, 3), -1, [0.0371], [0], -128, 127, False)
    op_case("fakequant_tensor_uint8", 2, (3, 4, 37), -1, [0.0213], [37], 0, 255, False)
    # Per channel: Conv2D weights along axis 0 on the narrow range; NHWC
    # activations along the last axis with mixed zero points; a middle axis.
    op_case("fakequant_channel_weight", 3, (5, 3, 3, 3), 0, [0.011, 0.0625, 0.0037, 0.29, 0.05], [0] * 5, -127, 127, False)
    op_case("fakequant_channel_nhwc", 4, (2, 3, 4, 6), 3, [0.02, 0.5, 0.013, 0.0625, 0.1, 0.7], [-3, 0, 5, 17, -20, 2], -128, 127, False)
    op_case("fakequant_channel_mid", 5, (3, 4, 5), 1, [0.03, 0.125, 0.07, 0.011], [3, 250, 0, 128], 0, 255, False)
    # Learnable (LSQ) per tensor with PyTorch's gradient scale
    # 1/sqrt(numel·qmax), and per channel with fractional zero points.
    n = 2 * 5 * 7 * 3
    op_case("fakequant_lsq_tensor_sym", 6, (2, 5, 7, 3), -1, [0.0371], [0], -128, 127, True, 1 / math.sqrt(n * 127))
    op_case("fakequant_lsq_tensor_affine", 7, (3, 4, 37), -1, [0.0213], [36], 0, 255, True, 1.0)
    op_case("fakequant_lsq_channel_weight", 8, (5, 3, 3, 3), 0, [0.011, 0.0625, 0.0037, 0.29, 0.05], [0] * 5, -127, 127, True,
            1 / math.sqrt(135 * 127))
    op_case("fakequant_lsq_channel_affine", 9, (2, 3, 4, 6), 3, [0.02, 0.5, 0.013, 0.0625, 0.1, 0.7], [4.3, 0, 5.8, 18, 2.2, 250],
            0, 255, True, 0.5)
    # Low-bit QAT: LSQ per output channel on the narrow 4-bit (−7..7) and
    # 2-bit (−1..1) weight grids of odd Conv2D/Linear shapes, with the
    # gradient scale 1/sqrt(numel·qmax); 4-bit activations per tensor.
    op_case("fakequant_lsq_channel_w4", 14, (7, 3, 3, 3), 0, [0.011, 0.0625, 0.0037, 0.29, 0.05, 0.13, 0.02], [0] * 7, -7, 7, True,
            1 / math.sqrt(189 * 7))
    op_case("fakequant_lsq_channel_w2", 15, (5, 11), 0, [0.03, 0.5, 0.0071, 0.2, 0.09], [0] * 5, -1, 1, True, 1 / math.sqrt(55 * 1))
    op_case("fakequant_tensor_a4", 16, (3, 5, 7), -1, [0.37], [0], -8, 7, False)
    op_case("fakequant_lsq_tensor_a4", 17, (3, 5, 7), -1, [0.37], [0], -8, 7, True, 1 / math.sqrt(105 * 7))


# --------------------------------------------------------------------------
# qparams and observers

EPS = torch.finfo(torch.float32).eps

# (name, dtype, qscheme, qmin, qmax): every grid and scheme nextconv offers.
SCHEMES = [
    ("int8_sym", torch.qint8, torch.per_channel_symmetric, -128, 127),
    ("int8_narrow_sym", torch.qint8, torch.per_channel_symmetric, -127, 127),
    ("int8_affine", torch.qint8, torch.per_channel_affine, -128, 127),
    ("uint8_affine", torch.quint8, torch.per_channel_affine, 0, 255),
    ("uint7_affine", torch.quint8, torch.per_channel_affine, 0, 127),
    ("uint8_sym", torch.quint8, torch.per_channel_symmetric, 0, 255),
    # low-bit QAT: qat.WeightBits(4), WeightBits(2), ActivationBits(4)
    ("int4_narrow_sym", torch.qint8, torch.per_channel_symmetric, -7, 7),
    ("int2_narrow_sym", torch.qint8, torch.per_channel_symmetric, -1, 1),
    ("int4_sym", torch.qint8, torch.per_channel_symmetric, -8, 7),
]

RANGES = [
    (-1.5, 2.25), (0.3, 4.0), (-3.0, -0.5), (0.0, 0.0), (-1e-9, 1e-9), (-0.731, 0.731),
    (-6.1, 0.02), (-0.02, 6.1), (-100.0, 3.0), (1e-3, 1e-3), (-2.5e-5, 7.5e-5), (-0.5, 0.5),
]


def qparams():
    mins = torch.tensor([r[0] for r in RANGES], dtype=torch.float32)
    maxs = torch.tensor([r[1] for r in RANGES], dtype=torch.float32)
    out = {"min": mins, "max": maxs}
    for name, dtype, qscheme, qmin, qmax in SCHEMES:
        obs = PerChannelMinMaxObserver(ch_axis=0, dtype=dtype, qscheme=qscheme, quant_min=qmin, quant_max=qmax)
        obs.min_val = mins.clone()
        obs.max_val = maxs.clone()
        scale, zp = obs.calculate_qparams()
        out[name + ".scale"] = scale
        out[name + ".zero_point"] = zp.to(torch.float32)
    meta = {"schemes": ";".join(f"{n}:{qmin}:{qmax}:{'sym' if 'symmetric' in str(q) else 'affine'}"
                                for n, _, q, qmin, qmax in SCHEMES), "eps": repr(EPS)}
    write("fakequant_qparams", out, meta)


def ema(name, seed, shape, axis, c, dtype, qscheme, qmin, qmax, steps=4):
    rng = np.random.default_rng(seed)
    if axis < 0:
        obs = MovingAverageMinMaxObserver(averaging_constant=c, dtype=dtype, qscheme=qscheme, quant_min=qmin, quant_max=qmax)
    else:
        obs = MovingAveragePerChannelMinMaxObserver(averaging_constant=c, ch_axis=axis, dtype=dtype, qscheme=qscheme,
                                                    quant_min=qmin, quant_max=qmax)
    out = {}
    for t in range(steps):
        # each batch shifted and scaled so the running range visibly moves
        x = torch.from_numpy((rng.normal(0.3 * t, 1 + t, size=shape)).astype(F32))
        obs(x)
        scale, zp = obs.calculate_qparams()
        out[f"x{t}"] = x
        out[f"min{t}"] = obs.min_val.clone().reshape(-1)
        out[f"max{t}"] = obs.max_val.clone().reshape(-1)
        out[f"scale{t}"] = scale.clone().reshape(-1)
        out[f"zero_point{t}"] = zp.to(torch.float32).reshape(-1)
    outer, C, inner = view(shape, axis)
    meta = {"outer": outer, "channels": C, "inner": inner, "axis": axis, "averaging_constant": repr(c), "qmin": qmin, "qmax": qmax,
            "symmetric": int("symmetric" in str(qscheme)), "steps": steps}
    write(name, out, meta)


def observers():
    ema("fakequant_ema_tensor_affine", 11, (2, 4, 4, 5), -1, 0.01, torch.quint8, torch.per_tensor_affine, 0, 255)
    ema("fakequant_ema_tensor_sym", 12, (2, 4, 4, 5), -1, 0.1, torch.qint8, torch.per_tensor_symmetric, -128, 127)
    ema("fakequant_ema_channel_sym", 13, (6, 2, 3, 3), 0, 0.25, torch.qint8, torch.per_channel_symmetric, -127, 127)


# --------------------------------------------------------------------------
# Index


def index():
    lines = [
        "# Golden data for fake quantization",
        "",
        f"Generated by `/usr/bin/python3 scripts/golden/fakequant.py` (PyTorch {torch.__version__}); do not edit by",
        "hand. The script's doc explains the inputs and the two restrictions on learnable zero points.",
        "kernels/cpu/fakequant_golden_test.go checks the ops, qat/golden_test.go qparams and observers.",
        "",
    ]
    for name, meta, tensors in INDEX:
        lines.append(f"## {name}.safetensors")
        lines.append("")
        lines.append("Metadata: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
        lines.append("")
        lines.append("Tensors: " + ", ".join(f"`{k}` {s}" for k, s in tensors))
        lines.append("")
    with open(os.path.join(OUT_DIR, "fakequant.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.manual_seed(0)
    ops()
    qparams()
    observers()
    index()
