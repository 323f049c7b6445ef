#!/usr/bin/python3
"""Generate pil_golden.json: outputs of Pillow's resize, affine warps and
ImageOps/ImageEnhance functions on small seeded images, the references the
datasets package's transforms are tested against byte for byte.

Run with the system Python that has Pillow (Debian: /usr/bin/python3,
Pillow 9.4):  /usr/bin/python3 gen_pil_golden.py > pil_golden.json
"""
import base64
import json

import numpy as np
import PIL
from PIL import Image, ImageEnhance, ImageOps

rs = np.random.RandomState(1234)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def smooth_noise(h, w, c, lo, hi):
    # A gradient plus noise, so that interpolation has structure to get wrong.
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 9 + y * 5)[..., None] + rs.randint(0, 60, size=(h, w, c))
    base = base.astype(np.float64)
    base = lo + (base - base.min()) * (hi - lo) / max(1, base.max() - base.min())
    return base.astype(np.uint8) if c > 1 else base[..., 0].astype(np.uint8)


images = {
    "gray": smooth_noise(13, 11, 1, 20, 220),
    "rgb": smooth_noise(9, 12, 3, 5, 250),
    "square": smooth_noise(8, 8, 1, 0, 255),
    "few": rs.choice(np.array([10, 40, 41, 200], dtype=np.uint8), size=(7, 6)),
}
# Widen the RGB channels' ranges differently so per-channel ops matter.
images["rgb"][..., 1] = (images["rgb"][..., 1] // 2 + 60).astype(np.uint8)

fills = {"gray": 73, "square": 73, "few": 73, "rgb": (124, 116, 104)}
interps = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}

cases = []


def add(name, op, inp, args, out):
    a = np.asarray(out)
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    cases.append(dict(name=name, op=op, input=inp, args=args, h=h, w=w, c=c, pix=b64(a)))


for name, arr in images.items():
    im = Image.fromarray(arr)
    fill = fills[name]
    # Resize, whole image and after a crop (torchvision resized_crop).
    for iname, interp in interps.items():
        for (oh, ow) in [(20, 17), (5, 4), (7, 23), (arr.shape[0], 3)]:
            add(f"{name}/resize/{iname}/{oh}x{ow}", "resize", name,
                dict(interp=iname, top=0, left=0, h=arr.shape[0], w=arr.shape[1], oh=oh, ow=ow),
                im.resize((ow, oh), interp))
        t, l, h, w = 2, 1, arr.shape[0] - 4, arr.shape[1] - 3
        for (oh, ow) in [(16, 16), (4, 6)]:
            add(f"{name}/cropresize/{iname}/{oh}x{ow}", "resize", name,
                dict(interp=iname, top=t, left=l, h=h, w=w, oh=oh, ow=ow),
                im.crop((l, t, l + w, t + h)).resize((ow, oh), interp))
        # Affine warps as timm's RandAugment calls them.
        for f in (0.27, -0.3):
            add(f"{name}/shearx/{iname}/{f}", "affine", name,
                dict(interp=iname, a=[1, f, 0, 0, 1, 0]),
                im.transform(im.size, Image.AFFINE, (1, f, 0, 0, 1, 0), resample=interp, fillcolor=fill))
        add(f"{name}/sheary/{iname}", "affine", name, dict(interp=iname, a=[1, 0, 0, 0.13, 1, 0]),
            im.transform(im.size, Image.AFFINE, (1, 0, 0, 0.13, 1, 0), resample=interp, fillcolor=fill))
        for px in (3.7, -2.25):
            add(f"{name}/translatex/{iname}/{px}", "affine", name, dict(interp=iname, a=[1, 0, px, 0, 1, 0]),
                im.transform(im.size, Image.AFFINE, (1, 0, px, 0, 1, 0), resample=interp, fillcolor=fill))
        add(f"{name}/translatey/{iname}", "affine", name, dict(interp=iname, a=[1, 0, 0, 0, 1, 4.95]),
            im.transform(im.size, Image.AFFINE, (1, 0, 0, 0, 1, 4.95), resample=interp, fillcolor=fill))
        for deg in (27.0, -13.5, 90.0, 180.0, 270.0, 8.1):
            add(f"{name}/rotate/{iname}/{deg}", "rotate", name, dict(interp=iname, deg=deg),
                im.rotate(deg, resample=interp, fillcolor=fill))
    add(f"{name}/autocontrast", "autocontrast", name, {}, ImageOps.autocontrast(im))
    add(f"{name}/equalize", "equalize", name, {}, ImageOps.equalize(im))
    add(f"{name}/invert", "invert", name, {}, ImageOps.invert(im))
    for bits in (0, 1, 3, 4, 8):
        out = im if bits >= 8 else ImageOps.posterize(im, bits)  # timm's posterize
        add(f"{name}/posterize/{bits}", "posterize", name, dict(v=bits), out)
    for th in (0, 128, 200, 256):
        add(f"{name}/solarize/{th}", "solarize", name, dict(v=th), ImageOps.solarize(im, th))
    for addv in (0, 30, 110):
        lut = [min(255, i + addv) if i < 128 else i for i in range(256)]
        if im.mode == "RGB":
            lut = lut * 3
        add(f"{name}/solarizeadd/{addv}", "solarizeadd", name, dict(v=addv), im.point(lut))
    for f in (0.1, 0.37, 1.0, 1.55, 1.9):
        add(f"{name}/color/{f}", "color", name, dict(f=f), ImageEnhance.Color(im).enhance(f))
        add(f"{name}/contrast/{f}", "contrast", name, dict(f=f), ImageEnhance.Contrast(im).enhance(f))
        add(f"{name}/brightness/{f}", "brightness", name, dict(f=f), ImageEnhance.Brightness(im).enhance(f))
        add(f"{name}/sharpness/{f}", "sharpness", name, dict(f=f), ImageEnhance.Sharpness(im).enhance(f))

out = dict(
    pillow=PIL.__version__,
    images={k: dict(h=v.shape[0], w=v.shape[1], c=1 if v.ndim == 2 else v.shape[2], pix=b64(v),
                    fill=list(fills[k]) if isinstance(fills[k], tuple) else [fills[k]])
            for k, v in images.items()},
    cases=cases,
)
print(json.dumps(out, indent=0))
