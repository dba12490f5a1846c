#!/usr/bin/env python3
"""Make tests/fixtures/images/sweep/ (committed; tests never run Python): small images in every format
and mode the engine reads, each with PIL's pixels for it, to check decoding bit for bit:

  <case>.<ext>        the input, written by PIL (or by hand where PIL cannot write the variant)
  <case>.<ext>.rgb    PIL's Image.open(...).convert("RGB") as raw bytes: width, height (uint16 LE) then
                      height x width x 3 values
  resized.txt         for every case and each of the resize cases 64x64 (up), 24x24 (down) and 100x31
                      (non-square): the FNV-1a 64-bit hash of PIL's convert("RGB").resize(size, BICUBIC)
                      bytes (hashes, not pixels: the decoded pixels are checked in full above)

The engine's test (tests/model/test_image.cpp, Image.SweepMatchesPilExactly) decodes every input and
compares. Cases whose decoder is optional (WebP, TIFF) are skipped there when the build lacks it.
Run from the repository root:  python3 tools/make_image_sweep.py   (needs numpy and Pillow)
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images", "sweep")
W, H = 37, 29


def picture(seed=3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    px = np.stack([x * 255 // (W - 1), y * 255 // (H - 1), (x * 7 + y * 3) % 256], -1).astype(np.int32)
    px += rng.integers(-20, 21, (H, W, 3))
    im = Image.fromarray(px.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    d.ellipse((5, 4, 25, 20), fill=(220, 40, 60))
    d.rectangle((20, 12, 34, 26), fill=(30, 90, 200))
    return im


def png_bytes(width, height, depth, color_type, rows, interlace=0, extra=b""):
    """A PNG from raw scanlines (each already packed at `depth`), filter 0."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png16(channels, color_type, scale=257, offset=3):
    base = np.array(picture()).astype(np.uint16)
    if channels == 2:
        grey = np.array(picture().convert("L")).astype(np.uint32)
        data = np.stack([grey * 37 % 65536, (np.arange(W)[None, :] * 1800 + grey * 0).astype(np.uint32) % 65536], -1)
    elif channels == 4:
        alpha = (np.arange(W)[None, :].repeat(H, 0) * 1700).astype(np.uint32)[..., None]
        data = np.concatenate([base.astype(np.uint32) * scale + offset, alpha], -1)
    else:
        data = base.astype(np.uint32) * scale + offset
    data = data.astype(">u2")
    return png_bytes(W, H, 16, color_type, [data[i].tobytes() for i in range(H)])


def low_depth_grey(depth):
    levels = (1 << depth) - 1
    v = (np.array(picture().convert("L")).astype(np.int32) * levels // 255).astype(np.uint8)
    rows = []
    for r in v:
        bits = "".join(format(int(p), "0%db" % depth) for p in r)
        bits += "0" * (-len(bits) % 8)
        rows.append(int(bits, 2).to_bytes(len(bits) // 8, "big"))
    return png_bytes(W, H, depth, 0, rows)


def tiled_tiff(im, tile=16):
    """An uncompressed RGB TIFF in tiles (PIL writes strips only): header, tile data, one IFD."""
    px = np.array(im)
    tx, ty = -(-W // tile), -(-H // tile)
    tiles = []
    for j in range(ty):
        for i in range(tx):
            t = np.zeros((tile, tile, 3), np.uint8)
            part = px[j * tile:(j + 1) * tile, i * tile:(i + 1) * tile]
            t[:part.shape[0], :part.shape[1]] = part
            tiles.append(t.tobytes())
    data = b"".join(tiles)
    offsets = [8 + k * len(tiles[0]) for k in range(len(tiles))]
    ifd_at = 8 + len(data)
    extra_at = ifd_at + 2 + 12 * 11 + 4  # arrays the entries point to: offsets, counts, bits per sample
    entries = [(256, 3, 1, W), (257, 3, 1, H), (258, 3, 3, extra_at + 8 * len(tiles)), (259, 3, 1, 1),
               (262, 3, 1, 2), (277, 3, 1, 3), (284, 3, 1, 1), (322, 3, 1, tile), (323, 3, 1, tile),
               (324, 4, len(tiles), extra_at), (325, 4, len(tiles), extra_at + 4 * len(tiles))]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3 and count == 1 else struct.pack("<I", value))
    ifd += struct.pack("<I", 0)
    extra = struct.pack("<%dI" % len(tiles), *offsets) + struct.pack("<%dI" % len(tiles), *[len(t) for t in tiles])
    extra += struct.pack("<HHH", 8, 8, 8)
    return b"II*\0" + struct.pack("<I", ifd_at) + data + ifd + extra


def pnm_cases(rgb, grey):
    """Every PNM kind, plain and raw, at maxvals PIL rescales (written by hand: PIL writes P4-P6 at 255)."""
    g, c = np.array(grey), np.array(rgb)
    bits = (g > 128).astype(int)
    plain = lambda magic, rows, maxval=None: ("%s\n# a comment\n%d %d\n%s" % (
        magic, W, H, "" if maxval is None else "%d\n" % maxval) + "\n".join(" ".join(map(str, r)) for r in rows) + "\n").encode()
    yield "pnm_p1.pbm", plain("P1", 1 - bits)
    yield "pnm_p2_max100.pgm", plain("P2", g * 100 // 255, 100)
    yield "pnm_p3_max300.ppm", plain("P3", (c.reshape(H, -1).astype(int) * 300 // 255), 300)
    packed = np.packbits(1 - bits, axis=1)
    yield "pnm_p4.pbm", b"P4\n%d %d\n" % (W, H) + packed.tobytes()
    yield "pnm_p5_max6.pgm", b"P5\n%d %d\n6\n" % (W, H) + (g.astype(int) * 6 // 255).astype(np.uint8).tobytes()
    yield "pnm_p5_16bit.pgm", b"P5\n%d %d\n1000\n" % (W, H) + (g.astype(">u2") * 3).tobytes()
    yield "pnm_p6_16bit.ppm", b"P6\n%d %d\n600\n" % (W, H) + (c.astype(">u2") * 2 + 1).tobytes()


def rle_bmp(im, bits):
    """A BI_RLE8 / BI_RLE4 BMP (PIL reads these but cannot write them): runs, literal runs, a delta."""
    q = im.quantize(1 << bits if bits == 4 else 40)
    idx, pal = np.array(q), q.getpalette()
    colours = (1 << bits) if bits == 4 else 40
    out = b""
    for y, r in enumerate(idx[::-1]):
        x = 0
        if y == 3:  # a delta: skip 5 pixels of this row (they stay palette entry 0)
            out += bytes([0, 2, 5, 0])
            x = 5
        while x < W:
            run = 1
            while x + run < W and run < 255 and r[x + run] == r[x]:
                run += 1
            if run >= 2 or W - x < 3:
                v = int(r[x]) if bits == 8 else (int(r[x]) << 4 | int(r[x]))
                out += bytes([run, v])
                x += run
            else:  # a literal run of 3 pixels, padded to 16 bits
                lit = [int(v) for v in r[x:x + 3]]
                data = bytes(lit) if bits == 8 else bytes([lit[0] << 4 | lit[1], lit[2] << 4])
                out += bytes([0, 3]) + data + b"\0" * (len(data) % 2)
                x += 3
        out += b"\0\0"
    out = out[:-2] + b"\0\1"
    table = b"".join(bytes([pal[3 * i + 2], pal[3 * i + 1], pal[3 * i], 0]) for i in range(colours))
    offset = 14 + 40 + len(table)
    header = b"BM" + struct.pack("<IHHI", offset + len(out), 0, 0, offset)
    header += struct.pack("<IiiHHIIiiII", 40, W, H, 1, bits, 1 if bits == 8 else 2, len(out), 2835, 2835, colours, 0)
    return header + table + out


def adam7_png(im):
    """An interlaced (Adam7) RGB PNG: the seven passes' scanlines, filter 0 (PIL cannot write one)."""
    px = np.array(im)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = px[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + r.tobytes() for r in sub)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 1))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def gif_local_palette(im):
    """PIL's GIF with its global colour table moved into the image descriptor (a local table)."""
    b = bytearray(save("", im, "GIF")[1])
    packed = b[10]
    size = 3 * (2 << (packed & 7))
    table = bytes(b[13:13 + size])
    del b[13:13 + size]
    b[10] = packed & 0x70  # no global table
    pos = 13
    while b[pos] == 0x21:  # skip extensions to the image descriptor
        pos += 2
        while b[pos]:
            pos += b[pos] + 1
        pos += 1
    assert b[pos] == 0x2C
    b[pos + 9] = 0x80 | (packed & 7)  # local table, same size
    b[pos + 10:pos + 10] = table
    return bytes(b)


def bmp_bits(im, bits):
    """A 16-bit (RGB555) or 32-bit (BGRX) BMP, bottom-up rows padded to 4 bytes (PIL writes 24-bit)."""
    px = np.array(im).astype(np.uint32)
    rows = []
    for r in px[::-1]:
        if bits == 16:
            v = ((r[:, 0] >> 3) << 10) | ((r[:, 1] >> 3) << 5) | (r[:, 2] >> 3)
            row = v.astype("<u2").tobytes()
        else:
            row = np.stack([r[:, 2], r[:, 1], r[:, 0], np.full(W, 7)], -1).astype(np.uint8).tobytes()
        rows.append(row + b"\0" * (-len(row) % 4))
    data = b"".join(rows)
    header = b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54)
    header += struct.pack("<IiiHHIIiiII", 40, W, H, 1, bits, 0, len(data), 2835, 2835, 0, 0)
    return header + data


def bmp_565(im):
    """A 16-bit BI_BITFIELDS BMP with 5-6-5 masks, top-down rows (negative height)."""
    px = np.array(im).astype(np.uint32)
    rows = []
    for r in px:
        v = ((r[:, 0] >> 3) << 11) | ((r[:, 1] >> 2) << 5) | (r[:, 2] >> 3)
        row = v.astype("<u2").tobytes()
        rows.append(row + b"\0" * (-len(row) % 4))
    data = b"".join(rows)
    masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F)
    header = b"BM" + struct.pack("<IHHI", 66 + len(data), 0, 0, 66)
    header += struct.pack("<IiiHHIIiiII", 40, W, -H, 1, 16, 3, len(data), 2835, 2835, 0, 0)
    return header + masks + data


def save(name, im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return name, buf.getvalue()


def cases():
    rgb = picture()
    grey = rgb.convert("L")
    alpha = Image.fromarray((np.arange(W)[None, :].repeat(H, 0) * 7).astype(np.uint8))
    rgba = Image.merge("RGBA", (*rgb.split(), alpha))
    yield save("jpeg_420.jpg", rgb, "JPEG", quality=80, subsampling=2)
    yield save("jpeg_422.jpg", rgb, "JPEG", quality=80, subsampling=1)
    yield save("jpeg_444.jpg", rgb, "JPEG", quality=92, subsampling=0)
    yield save("jpeg_progressive.jpg", rgb, "JPEG", quality=85, progressive=True)
    yield save("jpeg_optimized.jpg", rgb, "JPEG", quality=70, optimize=True)
    yield save("jpeg_restart.jpg", rgb, "JPEG", quality=85, restart_marker_blocks=4)
    yield save("jpeg_grey.jpg", grey, "JPEG", quality=85)
    yield save("jpeg_cmyk.jpg", rgb.convert("CMYK"), "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 on display; neither PIL's open nor the engine applies it
    yield save("jpeg_exif_orientation.jpg", rgb, "JPEG", quality=85, exif=exif.tobytes())
    yield "png_la16.png", png16(2, 4)
    yield "png_rgb16.png", png16(3, 2)
    yield "png_rgba16.png", png16(4, 6)
    for depth in (1, 2, 4):
        yield "png_grey%d.png" % depth, low_depth_grey(depth)
    yield save("png_palette4.png", rgb.quantize(12), "PNG", bits=4)
    yield save("png_rgba.png", rgba, "PNG")
    yield save("png_apng.png", rgb, "PNG", save_all=True, append_images=[Image.fromarray(255 - np.array(rgb))],
               duration=100)  # an APNG: the first frame (the default image)
    trns = rgb.quantize(16)
    yield save("gif_transparent.gif", trns, "GIF", transparency=3)
    yield save("png_palette_trns.png", trns, "PNG", transparency=3)
    yield save("bmp_palette8.bmp", rgb.quantize(40), "BMP")
    yield save("bmp_grey.bmp", grey, "BMP")
    yield save("bmp_1bit.bmp", grey.point(lambda v: 255 if v > 128 else 0).convert("1"), "BMP")
    yield save("pgm_grey.pgm", grey, "PPM")
    yield from pnm_cases(rgb, grey)
    yield "png_interlaced.png", adam7_png(rgb)
    yield "gif_local_palette.gif", gif_local_palette(rgb.quantize(24))
    yield "bmp_16bit.bmp", bmp_bits(rgb, 16)
    yield "bmp_32bit.bmp", bmp_bits(rgb, 32)
    yield "bmp_565.bmp", bmp_565(rgb)
    yield save("bmp_palette16.bmp", rgb.quantize(16), "BMP")
    yield "bmp_rle8.bmp", rle_bmp(rgb, 8)
    yield "bmp_rle4.bmp", rle_bmp(rgb, 4)
    yield save("gif_local.gif", rgb.quantize(20), "GIF")
    yield save("webp_lossy.webp", rgb, "WEBP", quality=80)
    yield save("webp_lossless.webp", rgb, "WEBP", lossless=True)
    yield save("webp_lossy_alpha.webp", rgba, "WEBP", quality=75)
    yield save("webp_lossless_alpha.webp", rgba, "WEBP", lossless=True, exact=True)
    for comp in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits"):
        yield save("tiff_rgb_%s.tif" % comp, rgb, "TIFF", compression=comp)
    yield save("tiff_rgba.tif", rgba, "TIFF", compression="tiff_lzw")
    yield save("tiff_grey.tif", grey, "TIFF", compression="tiff_deflate")
    yield save("tiff_1bit.tif", grey.point(lambda v: 255 if v > 128 else 0).convert("1"), "TIFF", compression="packbits")
    yield save("tiff_palette.tif", rgb.quantize(30), "TIFF")
    yield save("tiff_cmyk.tif", rgb.convert("CMYK"), "TIFF", compression="tiff_lzw")
    yield "tiff_tiled.tif", tiled_tiff(rgb)
    grey16 = Image.frombytes("I;16", (W, H), (np.array(grey).astype("<u2") * 5 + 7).tobytes())
    yield save("tiff_grey16.tif", grey16, "TIFF")
    second = Image.fromarray(255 - np.array(rgb))
    yield save("webp_animated.webp", rgb, "WEBP", save_all=True, append_images=[second], duration=100, quality=90)


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = []
    for name, data in cases():
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data)
        im = Image.open(path).convert("RGB")
        with open(path + ".rgb", "wb") as f:
            f.write(struct.pack("<HH", im.width, im.height) + im.tobytes())
        print("%-28s %s %s" % (name, Image.open(path).mode, im.size))
        for w, h in ((64, 64), (24, 24), (100, 31)):
            r = im.resize((w, h), resample=Image.BICUBIC, reducing_gap=None)
            lines.append("%s %dx%d %016x" % (name, w, h, fnv1a(r.tobytes())))
    with open(os.path.join(OUT, "resized.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
