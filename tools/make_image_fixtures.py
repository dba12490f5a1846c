#!/usr/bin/env python3
"""Make the image preprocessing fixtures in tests/fixtures/images/ (committed; tests never run Python).

Source images in every format and mode the engine documents, each with what PIL does to it:
  src_<kind>.<ext>            the input (RGB, L, LA, RGBA, P, P with transparency, 16-bit L and RGB PNG,
                              BMP, PPM, GIF)
  src_<kind>.rgb.png          Image.open(...).convert("RGB")
  src_<kind>.<W>x<H>.png      convert("RGB") then resize((W, H), BICUBIC) — as SiglipImageProcessor does
  photo_q90_420.jpg, photo_q95_444.jpg + .rgb.png   photo-like JPEGs and PIL's (libjpeg) decode, to
                              measure how far stb_image's decode is from it
  demo.png                    the picture `make demo` and `make run` ask about
Run from the repository root:  /usr/bin/python3 tools/make_image_fixtures.py
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")
SIZES = [(64, 64), (24, 24), (100, 31)]


def base_image(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    px = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) * 255 // max(1, w + h - 2)], -1)
    im = Image.fromarray(px.astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(5):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        d.ellipse((x0, y0, x0 + int(rng.integers(3, w // 2)), y0 + int(rng.integers(3, h // 2))),
                  fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    noise = rng.integers(-12, 13, (h, w, 3))
    return Image.fromarray((np.array(im).astype(np.int32) + noise).clip(0, 255).astype(np.uint8))


def photo(w, h, seed):
    rng = np.random.default_rng(seed)
    im = base_image(w, h, seed).filter(ImageFilter.GaussianBlur(1.5))
    px = np.array(im).astype(np.float64) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(px.clip(0, 255).astype(np.uint8))


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = base_image(57, 43, 1)
    alpha = Image.fromarray((np.arange(57)[None, :].repeat(43, 0) * 4).astype(np.uint8))
    grey16 = (np.arange(57 * 43).reshape(43, 57) * 23 % 1400).astype(np.uint16)  # > 255: PIL clips
    sources = {
        "rgb.png": rgb,
        "l.png": rgb.convert("L"),
        "la.png": Image.merge("LA", (rgb.convert("L"), alpha)),
        "rgba.png": Image.merge("RGBA", (*rgb.split(), alpha)),
        "p.png": rgb.quantize(64),
        "l16.png": Image.fromarray(grey16, mode="I;16"),
        "rgb.bmp": rgb,
        "rgb.ppm": rgb,
        "p.gif": rgb.quantize(32),
    }
    trns = rgb.quantize(16)
    trns.info["transparency"] = 3
    for name, im in sources.items():
        im.save(os.path.join(OUT, "src_" + name))
    trns.save(os.path.join(OUT, "src_ptrns.png"), transparency=3)
    # 16-bit RGB PNG: PIL cannot write it directly; numpy + a minimal PNG writer via zlib.
    write_png16_rgb(os.path.join(OUT, "src_rgb16.png"), (np.array(rgb).astype(np.uint16) * 257 + 3))

    for f in sorted(os.listdir(OUT)):
        if not f.startswith("src_") or f.count(".") != 1:
            continue
        im = Image.open(os.path.join(OUT, f)).convert("RGB")
        im.save(os.path.join(OUT, f + ".rgb.png"))
        for w, h in SIZES:
            im.resize((w, h), resample=Image.BICUBIC, reducing_gap=None).save(os.path.join(OUT, f"{f}.{w}x{h}.png"))

    demo_image().save(os.path.join(OUT, "demo.png"))
    for name, quality, sub in (("photo_q90_420.jpg", 90, 2), ("photo_q95_444.jpg", 95, 0)):
        photo(160, 120, 7).save(os.path.join(OUT, name), quality=quality, subsampling=sub)
        Image.open(os.path.join(OUT, name)).convert("RGB").save(os.path.join(OUT, name + ".rgb.png"))


def demo_image():
    """The image `make demo` and `make run` use: fruit on a table, drawn (no photo can be shipped)."""
    im = Image.new("RGB", (384, 288), (235, 225, 205))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 190, 384, 288), fill=(150, 100, 60))                       # table
    d.ellipse((40, 110, 150, 220), fill=(200, 30, 30))                          # apple
    d.rectangle((92, 92, 98, 115), fill=(90, 60, 30))                           # stem
    d.ellipse((98, 88, 130, 104), fill=(60, 150, 50))                           # leaf
    d.chord((160, 90, 330, 250), 200, 340, fill=(245, 215, 40))                 # banana
    d.chord((175, 105, 315, 235), 200, 340, fill=(235, 225, 205))
    d.ellipse((250, 170, 320, 230), fill=(250, 140, 20))                        # orange
    return im.filter(ImageFilter.GaussianBlur(1))


def write_png16_rgb(path, px):
    import struct
    import zlib
    h, w, _ = px.shape
    raw = b"".join(b"\x00" + px[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
