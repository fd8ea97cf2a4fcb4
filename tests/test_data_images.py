"""Tests for core.data.images and core.data.gallery."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from core.data import (
    MAX_PIXELS,
    gallery_description,
    gallery_image,
    gallery_names,
    load_gallery,
    load_image,
    to_uint8,
)
from core.errors import InputError
from image_bytes import black_1bit_png, encode


def _noise_image(height: int = 64, width: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_exif_orientation_is_applied():
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red
    stored[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: left half goes on top
    data = encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)

    loaded = load_image(data, size=20, crop_fraction=1.0)

    assert loaded.original_size == (20, 40)
    red, blue = loaded.tensor[0, 0], loaded.tensor[0, 2]
    assert red[:8].mean() > 0.9 and blue[:8].mean() < 0.1  # top of the crop is red
    assert blue[12:].mean() > 0.9 and red[12:].mean() < 0.1  # bottom is blue


def test_rgba_png_is_composited_over_white():
    row = [[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]
    pixels = np.array([row] * 3, dtype=np.uint8)  # 3x3, so size=3 needs no resize
    from_png = load_image(encode(Image.fromarray(pixels, "RGBA"), "PNG"), size=3, crop_fraction=1.0)
    from_array = load_image(pixels, size=3, crop_fraction=1.0)

    assert from_png.original_mode == "RGBA"
    for loaded in (from_png, from_array):
        top = loaded.tensor[0, :, 0]
        torch.testing.assert_close(top[:, 0], torch.ones(3))  # transparent red -> white
        torch.testing.assert_close(top[:, 1], torch.tensor([1.0, 0.0, 0.0]))  # opaque red kept
        torch.testing.assert_close(top[:, 2], torch.full((3,), 1 - 128 / 255))  # half over white


def test_transparent_palette_pixel_becomes_white():
    image = Image.new("P", (2, 2))
    image.putpalette([255, 0, 0, 0, 255, 0])
    image.paste(1, (1, 0, 2, 2))  # right column green, left column palette index 0 (red)
    data = encode(image, "PNG", transparency=0)

    loaded = load_image(data, size=2, crop_fraction=1.0)

    assert loaded.original_mode == "P"
    torch.testing.assert_close(loaded.tensor[0, :, :, 0], torch.ones(3, 2))
    torch.testing.assert_close(loaded.tensor[0, :, :, 1], torch.tensor([[0.0] * 2, [1.0] * 2, [0.0] * 2]))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_precision_is_kept(fmt):
    ramp = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)
    data = encode(Image.fromarray(ramp), fmt)

    loaded = load_image(data, size=256, crop_fraction=1.0, channels=1)

    assert loaded.original_mode.startswith("I")
    values = loaded.tensor.flatten()
    assert values.unique().numel() > 256
    assert values.min() == 0.0 and values.max() == 1.0
    torch.testing.assert_close(values[1], torch.tensor(1 / 65535))


def test_16_bit_array_is_scaled_by_65535():
    ramp = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16
    loaded = load_image(ramp, size=64, crop_fraction=1.0, channels=1)
    torch.testing.assert_close(loaded.tensor[0, 0].numpy(), ramp / np.float32(65535))


def test_grayscale_is_replicated_to_three_equal_channels():
    gray = np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)
    loaded = load_image(encode(Image.fromarray(gray), "PNG"), size=32, crop_fraction=1.0)

    assert loaded.tensor.shape == (1, 3, 32, 32)
    assert torch.equal(loaded.tensor[0, 0], loaded.tensor[0, 1])
    assert torch.equal(loaded.tensor[0, 0], loaded.tensor[0, 2])
    torch.testing.assert_close(loaded.tensor[0, 0].numpy(), gray / np.float32(255))


def test_one_channel_uses_itu_601_luma():
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    luma = [load_image(colours[:, i : i + 1], size=1, crop_fraction=1.0, channels=1) for i in range(3)]
    assert luma[0].tensor.shape == (1, 1, 1, 1)
    torch.testing.assert_close(
        torch.stack([one.tensor.flatten()[0] for one in luma]), torch.tensor([0.299, 0.587, 0.114])
    )


@pytest.mark.parametrize("mode", ["CMYK", "P", "YCbCr", "LAB", "HSV", "1", "I", "F"])
def test_other_modes_load(mode):
    image = _noise_image(16, 16).convert(mode) if mode not in ("I", "F") else Image.new(mode, (16, 16))
    loaded = load_image(image, size=8)
    assert loaded.original_mode == mode
    assert loaded.tensor.shape == (1, 3, 8, 8)
    assert 0.0 <= loaded.tensor.min() and loaded.tensor.max() <= 1.0


def test_cmyk_jpeg_file_loads(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (10, 10), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    loaded = load_image(path, size=10, crop_fraction=1.0)
    assert loaded.original_mode == "CMYK" and loaded.source_name == "cmyk.jpg"
    assert loaded.tensor[0, 0].mean() > 0.9 and loaded.tensor[0, 1:].mean() < 0.1


def test_multi_frame_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 255, 255), (0, 0, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(buffer.getvalue(), size=8, crop_fraction=1.0)
    assert loaded.tensor.min() == 1.0 and loaded.original_mode == "P, first of 2 frames"  # shown on the page


def test_text_file_renamed_jpg_is_refused(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    with pytest.raises(InputError, match="not an image"):
        load_image(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="No file"):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file_is_refused(fmt, keep):
    data = encode(_noise_image(), fmt)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(InputError, match="truncated"):
        load_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize("cut", [12, 20])
def test_png_missing_its_end_is_refused(cut):
    data = encode(_noise_image(), "PNG")  # the last 12 bytes are the IEND chunk
    with pytest.raises(InputError, match="truncated|Truncated"):
        load_image(data[:-cut])  # every pixel decodes, but the file is incomplete


def test_fifty_megapixel_image_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(black_1bit_png(8000, 6250))
    assert load_image(black_1bit_png(80, 62)).tensor.max() == 0.0  # the builder is a valid PNG

    start = time.perf_counter()
    with pytest.raises(InputError, match=f"{MAX_PIXELS:,}"):
        load_image(path)
    assert time.perf_counter() - start < 0.5


def test_pillow_decompression_bomb_is_refused():
    with pytest.raises(InputError, match=f"The image is 200,000,000 pixels, over the limit of {MAX_PIXELS:,}"):
        load_image(black_1bit_png(20000, 10000))  # over Pillow's own error threshold


def test_lazy_pil_image_over_limit_is_refused_without_loading():
    image = Image.open(io.BytesIO(black_1bit_png(8000, 6250)))
    with pytest.raises(InputError, match="limit"):
        load_image(image)
    assert image.tile  # Pillow empties the tile list once it decodes


def test_zero_size_images_are_refused():
    with pytest.raises(InputError, match="empty"):
        load_image(np.zeros((0, 5), dtype=np.uint8))
    with pytest.raises(InputError, match="empty"):
        load_image(Image.new("RGB", (0, 3)))


def test_digest_is_stable_and_pixel_sensitive():
    pixels = np.asarray(_noise_image(32, 32))
    changed = pixels.copy()
    changed[5, 7, 1] ^= 1

    first = load_image(pixels, size=32, crop_fraction=1.0)
    again = load_image(encode(Image.fromarray(pixels), "PNG"), size=32, crop_fraction=1.0)
    other = load_image(changed, size=32, crop_fraction=1.0)

    assert len(first.digest) == 64
    assert first.digest == again.digest
    assert first.digest != other.digest


def test_centre_crop_without_resize_takes_the_middle_columns():
    ramp = np.tile(np.arange(200, dtype=np.float32) / 199, (100, 1))  # value encodes the column
    loaded = load_image(ramp, size=100, crop_fraction=1.0, channels=1)
    assert loaded.original_size == (200, 100)
    torch.testing.assert_close(loaded.tensor[0, 0].numpy(), ramp[:, 50:150])


def test_resize_then_crop_follows_crop_fraction():
    height, width = 200, 400
    ramp = np.tile(np.arange(width, dtype=np.float32) / (width - 1), (height, 1))
    marker = np.zeros((height, width), dtype=np.float32)
    marker[90:110, 190:210] = 1.0

    loaded = load_image(ramp, size=50, crop_fraction=0.5, channels=1)  # shorter side 200 -> 100
    centre = load_image(marker, size=50, crop_fraction=0.5, channels=1).tensor[0, 0]

    assert loaded.tensor.shape == (1, 1, 50, 50)
    # resized to 100x200; the crop keeps resized columns 75..124 (original 150..249)
    row = loaded.tensor[0, 0, 25]
    assert row[0].item() == pytest.approx(151 / 399, abs=0.01)
    assert row[-1].item() == pytest.approx(249 / 399, abs=0.01)
    assert centre[23:27, 23:27].min() > 0.9 and centre[:10].max() == 0.0


def test_default_policy_gives_224_from_256():
    loaded = load_image(np.zeros((300, 500, 3), dtype=np.uint8))
    assert loaded.tensor.shape == (1, 3, 224, 224) and loaded.tensor.dtype == torch.float32
    assert loaded.to_uint8().shape == (224, 224, 3) and loaded.to_uint8().dtype == np.uint8


def test_array_input_is_not_mutated_nor_shared():
    pixels = np.random.default_rng(1).random((16, 16, 3), dtype=np.float32)
    before = pixels.copy()
    loaded = load_image(pixels, size=16, crop_fraction=1.0)
    loaded.tensor.zero_()
    assert np.array_equal(pixels, before)


def test_stream_position_is_restored():
    stream = io.BytesIO(encode(_noise_image(8, 8), "PNG"))
    stream.name = "/some/dir/upload.png"
    loaded = load_image(stream, size=8)
    assert stream.tell() == 0 and loaded.source_name == "upload.png"


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((4, 4), np.nan, dtype=np.float32), "NaN"),
        (np.full((4, 4), np.inf), "NaN or infinite"),
        (np.full((4, 4), 2.0), r"\[0, 1\]"),
        (np.zeros((4, 4), dtype=np.int64), "dtype"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), "shape"),
    ],
)
def test_bad_arrays_are_refused(array, message):
    with pytest.raises(InputError, match=message):
        load_image(array)


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 0}, {"size": 5000}, {"size": 2.5}, {"crop_fraction": 0.0}, {"crop_fraction": 1.5},
     {"crop_fraction": float("nan")}, {"channels": 2}, {"channels": True}],
)
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(InputError):
        load_image(np.zeros((8, 8), dtype=np.uint8), **kwargs)


def test_unsupported_source_type_is_refused():
    with pytest.raises(InputError, match="Expected a file path"):
        load_image(12345)


@pytest.mark.parametrize("name", gallery_names())
def test_gallery_images_load(name):
    loaded = load_gallery(name)
    assert loaded.tensor.shape == (1, 3, 224, 224)
    assert loaded.tensor.min() >= 0.0 and loaded.tensor.max() <= 1.0
    assert loaded.tensor.std() > 0.05  # a real photo, not a blank
    assert loaded.source_name == name
    assert gallery_description(name).startswith(f"{name}: ")


def test_gallery_lists_the_bundled_photos_and_refuses_unknown_names():
    assert gallery_names() == ["chelsea", "coffee", "rocket", "astronaut", "motorcycle", "camera"]
    assert gallery_image("chelsea").size == (451, 300)
    assert load_gallery("camera").original_mode == "L"
    with pytest.raises(InputError, match="chelsea, coffee"):
        load_gallery("lena")


def test_as_saved_8bit_rounds_to_the_levels_a_png_stores():
    from core.data import as_saved_8bit

    x = torch.tensor([0.0, 0.3 / 255, 0.6 / 255, 100 / 255, 100.49 / 255, 1.0, 1.2, -0.1])
    expected = torch.tensor([0.0, 0.0, 1 / 255, 100 / 255, 100 / 255, 1.0, 1.0, 0.0])
    torch.testing.assert_close(as_saved_8bit(x), expected)
    # exactly what the PNG download (to_uint8) holds
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    png = Image.open(io.BytesIO(encode(Image.fromarray(to_uint8(image)), "PNG")))
    torch.testing.assert_close(torch.from_numpy(np.array(png)).permute(2, 0, 1).float() / 255, as_saved_8bit(image))


@pytest.mark.parametrize("mode, values, message", [
    ("F", (3.7, 194.0), r"Float image values must lie in \[0, 1\], got \[3.7, 194\]"),
    ("I", (0, 70000), "holds values from 0 to 70000; integer images are read as 16-bit"),
    ("I", (-5, 100), "holds values from -5 to 100"),
])
def test_float_and_32_bit_images_out_of_their_range_are_refused_not_clipped(mode, values, message):
    """A float TIFF of 3.7 to 194 was all white after clipping; one of 0 to 70000 would be clipped too."""
    image = Image.new(mode, (4, 4), values[0])
    image.putpixel((1, 1), values[1])
    with pytest.raises(InputError, match=message):
        load_image(encode(image, "TIFF"), size=4, crop_fraction=1.0)
    inside = Image.new(mode, (4, 4), 0.25 if mode == "F" else 16384)
    torch.testing.assert_close(load_image(encode(inside, "TIFF"), size=4, crop_fraction=1.0, channels=1).tensor,
                               torch.full((1, 1, 4, 4), 0.25 if mode == "F" else 16384 / 65535))


def test_a_jpeg_missing_two_thirds_says_it_is_truncated_without_a_misleading_byte_count():
    data = encode(_noise_image(), "JPEG")
    with pytest.raises(InputError, match="The image file is truncated") as refused:
        load_image(data[: len(data) // 3])
    assert "not processed" not in str(refused.value)  # Pillow's count was of a buffer, not of what is missing
