"""Prints PyTorch's float32 -> bfloat16 conversions of edge values as Go
table rows {float32 bits, bfloat16 bits} for internal/bfloat16's
known-answer test. Run with Debian's PyTorch: /usr/bin/python3 scripts/golden/bfloat16.py
"""
import numpy as np
import torch

vals = [1.0, -1.0, 0.0, -0.0, 1.00390625, 1.005859375, 1.0078125, 1.01171875,
        3.4028234663852886e38, 3.3895313892515355e38, 3.3961775292e38,
        float("inf"), float("-inf"), 1e-45, 1.1754942e-38, 1.1754944e-38,
        9.18354961579912e-41, 9.219e-41, -2.5, 0.1, 3.14159265, 65504.0, 1e-40, 5.877e-39]
# ties (dropped half 0x8000) with even and odd kept halves, just below and
# above a tie, subnormal ties, the tie below the largest finite value
extra_bits = [0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x00008000, 0x00018000,
              0x7F7F8000, 0x7F7F7FFF, 0x80008000, 0x007FFFFF, 0xBF818000]
xs = np.concatenate([np.array(vals, dtype=np.float32), np.array(extra_bits, dtype=np.uint32).view(np.float32)])
b = torch.from_numpy(xs).bfloat16().view(torch.int16).numpy().view(np.uint16)
for u, bb in zip(xs.view(np.uint32), b):
    print("{0x%08x, 0x%04x}," % (u, bb))
# Every NaN is a NaN bfloat16; the bits differ by path (0xffff from the
# vectorised CPU conversion, 0x7fc0 from the scalar one, 0x7fff on CUDA).
print("// NaN ->", hex(torch.tensor([float("nan")]).bfloat16().view(torch.int16).item() & 0xFFFF))
