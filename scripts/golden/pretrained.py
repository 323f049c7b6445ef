#!/usr/bin/python3
"""Golden data for loading pretrained weights (models/pretrained.go,
models/torchpt).

Run from the repository root with the system Python that has PyTorch 1.13,
naming unpacked copies of the two reference repositories at their pinned
commits:

    git -C ConvNeXt-V2 archive 2553895753323c6fe0b2bf390683f5ea358a42b9 models | tar -x -C /tmp/official
    git -C pytorch-image-models archive aa4b5850c1543fa488abf260f18390eda46cf85d timm | tar -x -C /tmp/timm
    /usr/bin/python3 scripts/golden/pretrained.py --official /tmp/official --timm /tmp/timm

It writes into models/testdata/pretrained/:

official_small.pt  torch.save({"model": model.state_dict()}) of the official
    ConvNeXtV2 class (facebookresearch/ConvNeXt-V2 models/convnextv2.py,
    imported as is; timm's trunc_normal_ and DropPath and MinkowskiEngine's
    SparseTensor, its only outside imports, are replaced by small stand-ins)
    with depths (1, 1, 2, 1), dims (8, 16, 24, 32), 3 input channels and 10
    classes, random non-trivial float32 weights (GRN too).
official_small_logits.safetensors  x [2, 3, 64, 64] (NCHW) and the logits
    [2, 10] of that model, computed in float64 from the stored float32
    weights.
tiny_proto4.pt  a state dict saved with pickle protocol 4 (STACK_GLOBAL,
    MEMOIZE, FRAME): "w" [2, 3] float32, "t" its transpose (a strided view
    of the same storage), "h" [3] float16 and "d" [2] float64.
timm_small.safetensors  a timm ConvNeXt (timm/models/convnext.py at
    aa4b5850: conv_mlp, GRN, no layer scale; same depths and dims, 3
    channels, 10 classes) with random weights in timm's naming, plus, for
    each case below, what timm's own load_pretrained (timm/models/_builder.py)
    leaves in a new model built with other in_chans/num_classes:
    `<case>.stem.0.weight` (adapt_input_conv's result) and, in the
    metadata, `<case>.head_loaded` ("true" when the classifier was kept).
    Cases: in1_c10 (1 channel: RGB summed), in5_c7 (5 channels: repeated
    and scaled by 3/5; 7 classes: head dropped), in3_c7, in2_c10.
"""

import argparse
import collections
import importlib
import math
import os
import sys
import types

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import write  # noqa: E402  (the safetensors writer of scripts/golden/models.py)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "testdata", "pretrained")
DEPTHS, DIMS = [1, 1, 2, 1], [8, 16, 24, 32]


class DropPath(nn.Module):
    """Stand-in for timm's DropPath (the golden models run in eval mode)."""

    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x


def import_official(src):
    """Imports models/convnextv2.py from an unpacked official repository
    with stand-ins for its outside imports."""
    layers = types.ModuleType("timm.models.layers")
    layers.trunc_normal_ = lambda t, std=1.0, **kw: nn.init.trunc_normal_(t, std=std, a=-2.0, b=2.0)
    layers.DropPath = DropPath
    timm = types.ModuleType("timm")
    timm.models = types.ModuleType("timm.models")
    timm.models.layers = layers
    mink = types.ModuleType("MinkowskiEngine")
    mink.SparseTensor = object
    sys.modules.update({"timm": timm, "timm.models": timm.models, "timm.models.layers": layers, "MinkowskiEngine": mink})
    pkg = types.ModuleType("official_models")  # the repository's models/ folder as a package
    pkg.__path__ = [os.path.join(src, "models")]
    sys.modules["official_models"] = pkg
    try:
        return importlib.import_module("official_models.convnextv2")
    finally:
        for k in ("timm", "timm.models", "timm.models.layers", "MinkowskiEngine"):
            del sys.modules[k]


def randomize(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 or "grn" in name:
                p.copy_(0.5 * torch.randn_like(p) + (1.0 if name.endswith("norm.weight") else 0.0))
            else:
                p.copy_(0.1 * torch.randn_like(p))


def official(src):
    cv2 = import_official(src)
    model = cv2.ConvNeXtV2(in_chans=3, num_classes=10, depths=DEPTHS, dims=DIMS).eval()
    randomize(model, 1)
    path = os.path.join(OUT, "official_small.pt")
    torch.save({"model": model.state_dict()}, path)
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model.double()(x.double())
    write(os.path.join(OUT, "official_small_logits.safetensors"), [("x", x, "F32"), ("logits", logits, "F32")],
          {"source": "scripts/golden/pretrained.py", "official_commit": "2553895753323c6fe0b2bf390683f5ea358a42b9"})
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def tiny():
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
    sd = collections.OrderedDict([("w", w), ("t", w.t()), ("h", torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16)),
                                  ("d", torch.tensor([1.0 / 3, -1e-3], dtype=torch.float64))])
    torch.save(sd, os.path.join(OUT, "tiny_proto4.pt"), pickle_protocol=4)


def timm_cases(src):
    sys.path.insert(0, src)
    from timm.models._builder import load_pretrained
    from timm.models.convnext import ConvNeXt

    def build(in_chans, classes):
        return ConvNeXt(in_chans=in_chans, num_classes=classes, depths=DEPTHS, dims=DIMS, conv_mlp=True,
                        use_grn=True, ls_init_value=None)

    src_model = build(3, 10)
    randomize(src_model, 3)
    sd = src_model.state_dict()
    tensors = [(k, v, "F32") for k, v in sd.items()]
    meta = {"source": "scripts/golden/pretrained.py", "timm_commit": "aa4b5850c1543fa488abf260f18390eda46cf85d"}
    for in_chans, classes in [(1, 10), (5, 7), (3, 7), (2, 10)]:
        case = "in%d_c%d" % (in_chans, classes)
        model = build(in_chans, classes)
        fresh_head = model.head.fc.weight.detach().clone()
        cfg = {"state_dict": dict(sd), "num_classes": 10, "first_conv": "stem.0", "classifier": "head.fc"}
        load_pretrained(model, pretrained_cfg=cfg, num_classes=classes, in_chans=in_chans)
        for k, v in model.state_dict().items():  # everything but stem and head is the checkpoint's
            if not k.startswith(("stem.0.", "head.fc.")):
                assert torch.equal(v, sd[k]), k
        tensors.append((case + ".stem.0.weight", model.stem[0].weight, "F32"))
        loaded = torch.equal(model.head.fc.weight, sd["head.fc.weight"]) if classes == 10 else False
        assert loaded or torch.equal(model.head.fc.weight, fresh_head)
        meta[case + ".head_loaded"] = "true" if loaded else "false"
        if in_chans not in (1, 3):
            ref = sd["stem.0.weight"].repeat(1, math.ceil(in_chans / 3), 1, 1)[:, :in_chans] * (3 / in_chans)
            assert torch.allclose(model.stem[0].weight, ref)
    path = os.path.join(OUT, "timm_small.safetensors")
    write(path, tensors, meta)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", required=True, help="unpacked facebookresearch/ConvNeXt-V2 at 2553895")
    ap.add_argument("--timm", required=True, help="unpacked huggingface/pytorch-image-models at aa4b5850")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    official(os.path.abspath(args.official))
    tiny()
    timm_cases(os.path.abspath(args.timm))


if __name__ == "__main__":
    main()
