"""Hostile and awkward photo files, made in memory: what a real archive of field photos holds."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from tests.integration.photos import meter_jpeg


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 20000) -> bytes:
    """A real side x side 8-bit grey PNG (400 MB of pixels for 20000) in ~400 KB, streamed:
    building it never holds the pixels in memory."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one black row
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def variants(seed: int = 5) -> dict[str, bytes]:
    """Decodable oddities: PNG named .jpg, CMYK JPEG, 16-bit and RGBA PNGs, grey, EXIF-rotated."""
    jpeg = meter_jpeg(seed)
    base = Image.open(io.BytesIO(jpeg))
    exif = base.getexif()
    exif[0x0112] = 6  # "rotate 90° CW to view": what phones write for portrait shots
    return {
        "png-named.jpg": _encode(base, "PNG"),
        "cmyk.jpg": _encode(base.convert("CMYK"), "JPEG"),
        "sixteen-bit.png": _encode(base.convert("I;16"), "PNG"),
        "alpha.png": _encode(base.convert("RGBA"), "PNG"),
        "grey.jpg": _encode(base.convert("L"), "JPEG"),
        "exif-rotated.jpg": _encode(base, "JPEG", exif=exif.tobytes()),
    }


def broken(seed: int = 6) -> dict[str, tuple[bytes, str]]:
    """Undecodable files and the reason their `error` row must carry."""
    jpeg = meter_jpeg(seed)
    return {
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated or corrupt image"),
        "header-only.jpg": (jpeg[:300], "truncated or corrupt image"),
        "zero-byte.jpg": (b"", "empty file"),
        "text-named.jpg": (b"this is a text file that was named .jpg by mistake\n", "not an image"),
        "bomb-20000x20000.png": (png_bomb(), "too many pixels (decompression bomb)"),
    }
