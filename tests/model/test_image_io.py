"""decode_image: the guards an archive of untrusted photos needs (unit tier: no TF)."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from model.image_io import ImageRejected, decode_image, shrink

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 50_000_000}


def _photo(width=320, height=240, seed=0) -> np.ndarray:
    """A BGR test picture with structure in it, so orientation mistakes are visible."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (width, height),
                       interpolation=cv2.INTER_NEAREST)
    image[: height // 4, : width // 4] = (0, 0, 255)  # a red top-left corner
    return image


def _encode(image: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    pixels = image if image.ndim == 2 else np.ascontiguousarray(image[:, :, ::-1])
    Image.fromarray(pixels).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _reason(data: bytes, **limits) -> str:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, **{**LIMITS, **limits})
    return caught.value.reason


def test_decodes_jpeg_to_bgr_uint8():
    image = _photo()
    out = decode_image(_encode(image, quality=95), **LIMITS)
    assert out.shape == (240, 320, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() < 6
    assert tuple(out[5, 5].astype(int)) == pytest.approx((0, 0, 255), abs=20)  # BGR, not RGB


def test_zero_bytes_rejected():
    assert _reason(b"") == "empty file"


def test_text_file_rejected():
    assert _reason(b"this is not a photo, it is a shopping list\n" * 10) == "not an image"


def test_truncated_jpeg_rejected():
    data = _encode(_photo(640, 480), quality=90)
    for fraction in (0.05, 0.5, 0.9):
        assert "truncated" in _reason(data[: int(len(data) * fraction)])


def test_truncated_png_rejected():
    data = _encode(_photo(), "PNG")
    assert "truncated" in _reason(data[: len(data) // 2])


def test_png_named_jpg_decodes():
    image = _photo()
    out = decode_image(_encode(image, "PNG"), **LIMITS)  # content decides, not the name
    assert np.array_equal(out, image)


def test_too_many_bytes_rejected():
    data = _encode(_photo())
    assert "too many bytes" in _reason(data, max_bytes=len(data) - 1)


def test_huge_dimensions_rejected_from_header_without_decoding():
    # A real 20000x20000 PNG header with a tiny (invalid) body: only the header can be read, so
    # the rejection proves the check happens before any pixel is decoded or allocated.
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # keep the IHDR chunk valid
    assert "too many pixels" in _reason(bytes(data))


def test_huge_jpeg_header_rejected():
    data = bytearray(_encode(_photo(64, 48)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (30000).to_bytes(2, "big") + (30000).to_bytes(2, "big")
    assert "too many pixels" in _reason(bytes(data))


def test_pixel_limit_is_configurable():
    assert "too many pixels" in _reason(_encode(_photo(320, 240)), max_pixels=320 * 240 - 1)


def test_sixteen_bit_png_becomes_eight_bit():
    grey16 = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    _, encoded = cv2.imencode(".png", grey16)
    out = decode_image(encoded.tobytes(), **LIMITS)
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    assert abs(int(out[-1, -1, 0]) - 255) <= 1 and out[0, 0, 0] == 0


def test_alpha_png_drops_alpha():
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 2] = 200  # BGR red channel
    rgba[..., 3] = 128
    _, encoded = cv2.imencode(".png", rgba)
    out = decode_image(encoded.tobytes(), **LIMITS)
    assert out.shape == (30, 40, 3) and tuple(out[0, 0]) == (0, 0, 200)


def test_grayscale_and_cmyk_jpeg_become_bgr():
    grey = decode_image(_encode(_photo()[:, :, 0].copy(), quality=95), **LIMITS)
    assert grey.shape == (240, 320, 3)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).convert("CMYK").save(buffer, "JPEG")
    cmyk = decode_image(buffer.getvalue(), **LIMITS)
    assert cmyk.shape == (30, 40, 3)
    assert tuple(cmyk[10, 10].astype(int)) == pytest.approx((30, 30, 200), abs=15)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("target", [None, 100])
def test_exif_orientation_matches_pillow(orientation, target):
    image = _photo(320, 240)
    pil = Image.fromarray(image[:, :, ::-1].copy())
    exif = pil.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(buffer.getvalue(), **LIMITS, target_max_side=target)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))))[:, :, ::-1]
    if target is not None:
        expected = cv2.resize(expected, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 12


def test_large_jpeg_decoded_at_reduced_resolution():
    data = _encode(_photo(4000, 3000), quality=80)
    assert decode_image(data, **LIMITS, target_max_side=1000).shape == (750, 1000, 3)
    assert decode_image(data, **LIMITS, target_max_side=900).shape == (750, 1000, 3)
    assert decode_image(data, **LIMITS, target_max_side=400).shape == (375, 500, 3)
    assert decode_image(data, **LIMITS, target_max_side=3000).shape == (3000, 4000, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF"])
def test_grey_decoding_matches_colour_decoding_made_grey(fmt):
    image = _photo(4000, 3000) if fmt == "JPEG" else _photo()
    data = _encode(image, fmt)
    target = 1000 if fmt == "JPEG" else None  # JPEGs through the reduced-resolution path too
    colour = decode_image(data, **LIMITS, target_max_side=target)
    grey = decode_image(data, **LIMITS, target_max_side=target, grey=True)
    assert grey.shape == colour.shape[:2] and grey.dtype == np.uint8
    assert np.abs(grey.astype(int) - cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)).mean() < 2


def test_grey_decoding_keeps_exif_orientation():
    pil = Image.fromarray(_photo(320, 240)[:, :, ::-1].copy())
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    assert decode_image(buffer.getvalue(), **LIMITS, grey=True).shape == (320, 240)


def test_small_jpeg_never_upscaled_or_reduced_below_target():
    data = _encode(_photo(640, 480))
    assert decode_image(data, **LIMITS, target_max_side=1000).shape == (480, 640, 3)
    assert decode_image(data, **LIMITS, target_max_side=320).shape == (240, 320, 3)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_phone_formats_decode_upright_like_a_jpeg(fmt):
    # iPhones save HEIC. pillow-heif turns a HEIC upright itself and resets its EXIF orientation;
    # Pillow's AVIF keeps the tag for us to apply. Either way it must be applied exactly once.
    image = _photo(320, 240)
    pil = Image.fromarray(image[:, :, ::-1].copy())
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise
    buffer = io.BytesIO()
    pil.save(buffer, fmt, quality=90, exif=exif.tobytes())
    out = decode_image(buffer.getvalue(), **LIMITS)
    expected = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    assert out.shape == expected.shape == (320, 240, 3)
    assert np.abs(out.astype(int) - expected).mean() < 12
    assert decode_image(buffer.getvalue(), **LIMITS, grey=True).shape == (320, 240)


def test_a_broken_heif_container_is_called_corrupt():
    fake_heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert _reason(fake_heic) == "truncated or corrupt image"
    video = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41" + b"\x00" * 64
    assert _reason(video) == "not an image"


@pytest.mark.parametrize("shape, size", [((480, 640), (192, 144)), ((751, 1001), (192, 144)),
                                         ((3000, 4000), (256, 192)), ((300, 300), (192, 192))])
def test_shrink_averages_like_one_inter_area_step(shape, size):
    # photo-like: structure at a few output pixels' scale (pure noise aliases differently per path)
    noise = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), shape[1] / size[0])
    image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)
    out = shrink(image, size)
    assert out.shape == (size[1], size[0]) and out.dtype == np.uint8
    direct = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - direct).mean() < 1.5
