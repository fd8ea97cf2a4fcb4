"""Load a user's image into a canonical float tensor.

Policy (every source goes through the same steps):

* Sources: a file path (str or Path), bytes, a binary file-like object (its position
  is restored afterwards), a PIL image (used as given, i.e. its current frame), or a
  numpy array (H, W) or (H, W, C) with C in 1/3/4 and dtype uint8, uint16 (divided by
  65535), bool, or float already in [0, 1] (NaN, inf or out-of-range floats are refused).
* Size limit: width * height is read from the header and checked against
  ``MAX_PIXELS`` before any pixel is decoded; Pillow's own decompression-bomb
  error and warning are refused too.  Zero-size images are refused.
* Decoding: the first frame of multi-frame files (GIF, TIFF) is fully decoded;
  a truncated or corrupt file is an error (``ImageFile.LOAD_TRUNCATED_IMAGES`` is
  left False, never filled in; PNG chunk checksums and the end chunk are verified
  too).  EXIF orientation is applied (``ImageOps.exif_transpose``) and
  ``original_size`` is the size after it.
* Modes: RGBA, LA, PA, RGBa, La and P with transparency are composited over
  white; P, CMYK, YCbCr, LAB, HSV (and other colour modes) become RGB; 16-bit
  ('I;16', 'I;16B', and 32-bit 'I' holding 0 to 65535) is divided by 65535 without
  passing through 8 bits; 'F' must be finite and in [0, 1]; other values are refused,
  not clipped; '1' and 'L' are replicated to 3 channels when ``channels=3``.  With
  ``channels=1`` colour becomes luma, 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2),
  computed in float.
  Pillow itself reduces 48-bit RGB files to 8 bits per channel; pass a uint16
  array to keep them exact.
* Geometry: the shorter side is resized to ``round(size / crop_fraction)`` with
  antialiased bilinear resampling in float32 (skipped when the size already
  matches), then the centre ``size`` x ``size`` square is cropped (offset
  ``(resized - size) // 2``).  The resized image must also fit in ``MAX_PIXELS``,
  which only refuses extreme aspect ratios.  Valid settings: ``size`` 1 to
  ``MAX_SIZE``, ``crop_fraction`` ``MIN_CROP_FRACTION`` to 1.0, ``channels`` 1 or 3.
* Output: (1, C, size, size) float32 in [0, 1]; ``digest`` is the sha256 of its
  dtype, shape and bytes.  Inputs are never modified.
"""
from __future__ import annotations

import hashlib
import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

MAX_PIXELS = 40_000_000
MAX_SIZE = 2048
MIN_CROP_FRACTION = 0.1

ImageSource = str | Path | bytes | BinaryIO | Image.Image | np.ndarray

_CONVERSIONS = {"RGBa": "RGBA", "PA": "RGBA", "La": "LA"}
_KEPT_MODES = {"1", "L", "LA", "RGB", "RGBA", "F", "I", "I;16", "I;16B", "I;16L", "I;16N"}
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image: tensor (1, C, size, size) float32 in [0, 1] plus provenance."""

    tensor: torch.Tensor
    original_size: tuple[int, int]
    original_mode: str
    digest: str
    source_name: str | None = None

    def to_uint8(self) -> np.ndarray:
        """(H, W, C) uint8 copy for display."""
        return to_uint8(self.tensor[0])


def _levels(x: torch.Tensor) -> torch.Tensor:
    """``round(255 x)`` of ``x`` clipped to [0, 1]: the 256 levels an 8-bit image stores, as floats."""
    return x.clamp(0, 1).mul(255).round()


def as_saved_8bit(x: torch.Tensor) -> torch.Tensor:
    """``x`` in [0, 1] as an 8-bit image file stores it: ``round(255 x) / 255`` (same shape and device)."""
    return _levels(x).div(255)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """An image (C, H, W) in [0, 1], on any device, as an (H, W, C) uint8 array."""
    return _levels(image.detach()).permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def load_image(
    source: ImageSource, *, size: int = 224, crop_fraction: float = 0.875, channels: int = 3
) -> LoadedImage:
    """Decode ``source`` and resize/crop it to ``size`` x ``size`` (see the module policy)."""
    _check_params(size, crop_fraction, channels)
    if isinstance(source, np.ndarray):
        pixels, mode, name = _array_pixels(source), f"array:{source.dtype}", None
    else:
        pixels, mode, name = _decode(source)
    height, width = pixels.shape[:2]
    pixels = _to_channels(_flatten_alpha(pixels), channels)
    tensor = _resize_and_crop(pixels, size, crop_fraction)
    return LoadedImage(tensor, (width, height), mode, pixel_digest(tensor), name)


def load_folder(folder: str | Path, **loading) -> tuple[list[LoadedImage], list[str]]:
    """Every image file of ``folder`` (sorted by name, hidden files left out), each loaded with ``loading``
    (``load_image``'s options), and why each other file was left out ("name: reason": unreadable, or a link
    to a file already taken). Refused where the folder does not exist or holds no readable image."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder on this machine.")
    images, skipped, seen = [], [], {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.resolve() in seen:  # a link to a file already taken: the same image, counted once
            skipped.append(f"{path.name}: the same file as {seen[path.resolve()]}")
            continue
        seen[path.resolve()] = path.name
        try:
            images.append(load_image(path, **loading))
        except InputError as exc:
            skipped.append(f"{path.name}: {exc}")
    if not images:
        raise InputError(f"No readable images in {folder}.")
    return images, skipped


def _check_params(size: int, crop_fraction: float, channels: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise InputError(f"size must be an integer from 1 to {MAX_SIZE}, got {size!r}.")
    valid_fraction = isinstance(crop_fraction, (int, float)) and not isinstance(crop_fraction, bool)
    if not valid_fraction or not MIN_CROP_FRACTION <= crop_fraction <= 1.0:
        raise InputError(
            f"crop_fraction must be a number from {MIN_CROP_FRACTION} to 1.0, got {crop_fraction!r}."
        )
    if isinstance(channels, bool) or not isinstance(channels, int) or channels not in (1, 3):
        raise InputError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}.")


def _check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"The image is empty ({width}x{height} pixels); use a non-empty image.")
    if width * height > MAX_PIXELS:
        raise InputError(
            f"The image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{MAX_PIXELS:,} pixels; downscale it before loading."
        )


def _array_pixels(array: np.ndarray) -> np.ndarray:
    """Validate a numpy image and return an (H, W, C) float32 copy in [0, 1]."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InputError(
            f"An image array must be (H, W) or (H, W, C) with C in 1, 3 or 4; got shape {array.shape}."
        )
    _check_dimensions(array.shape[1], array.shape[0])
    pixels = _unit_float(array, clip=False)
    return pixels if pixels.ndim == 3 else pixels[:, :, None]


def _unit_float(array: np.ndarray, *, clip: bool) -> np.ndarray:
    """Scale bool/uint8/uint16/float pixels to a new float32 array in [0, 1]."""
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255)
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        return array.astype(np.float32) / np.float32(65535)
    if array.dtype.kind != "f":
        raise InputError(
            f"Image arrays of dtype {array.dtype} are not supported; "
            "use uint8, uint16, bool, or float in [0, 1]."
        )
    if not np.isfinite(array).all():
        raise InputError("The image contains NaN or infinite values; replace them before loading.")
    if clip:
        return np.clip(array, 0.0, 1.0).astype(np.float32)
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise InputError(
            f"Float image values must lie in [0, 1], got [{array.min():g}, {array.max():g}]; "
            "divide by 255 (8-bit) or 65535 (16-bit) first."
        )
    return array.astype(np.float32)


def _decode(source: ImageSource) -> tuple[np.ndarray, str, str | None]:
    """Decode a file, bytes, stream or PIL image to (pixels, mode, name); errors become InputError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode_unchecked(source)
    except InputError:
        raise
    except FileNotFoundError as exc:
        raise InputError(f"No file at {source}; check the path.") from exc
    except UnidentifiedImageError as exc:
        raise InputError(
            "This is not an image Pillow can read; use a PNG, JPEG, GIF, TIFF, BMP or WebP file."
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        size = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow says "Image size (N pixels) exceeds ..."
        raise InputError(
            f"The image is {f'{int(size[1]):,} pixels' if size else 'too large'}, over the limit of {MAX_PIXELS:,} "
            "pixels; downscale it before loading."
        ) from exc
    except _DECODE_ERRORS as exc:
        if "truncated" in str(exc):  # Pillow's "(N bytes not processed)" counts a buffer, not what is missing
            raise InputError("The image file is truncated: it ends before its image data does (an interrupted "
                             "download or copy?); download or export it again.") from exc
        raise InputError(
            f"The image could not be read ({exc}); the file may be truncated or corrupt, "
            "re-export it and try again."
        ) from exc


def _decode_unchecked(source: ImageSource) -> tuple[np.ndarray, str, str | None]:
    if isinstance(source, Image.Image):
        return _pil_pixels(source), source.mode, _base_name(getattr(source, "filename", None))
    raw = _raw(source)
    with _open(raw) as image:
        pixels, mode, image_format = _pil_pixels(image), image.mode, image.format
        frames = getattr(image, "n_frames", 1)
    if frames > 1:  # an animation: the model sees its first frame
        mode = f"{mode}, first of {frames} frames"
    if image_format == "PNG":
        _verify(raw)
    return pixels, mode, _source_name(source)


def _raw(source: ImageSource) -> Path | bytes:
    """A path, or the bytes of an in-memory source, that can be opened more than once."""
    if isinstance(source, (str, Path)):
        return Path(source)
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if callable(getattr(source, "read", None)):
        return _read_stream(source)
    raise InputError(
        "Expected a file path, bytes, a binary file object, a PIL image or a numpy array; "
        f"got {type(source).__name__}."
    )


def _open(raw: Path | bytes) -> Image.Image:
    return Image.open(raw if isinstance(raw, Path) else io.BytesIO(raw))


def _verify(raw: Path | bytes) -> None:
    """Check PNG chunk checksums and the end marker, which decoding alone skips."""
    with _open(raw) as image:
        image.verify()


def _read_stream(stream: BinaryIO) -> bytes:
    """All bytes from the current position, leaving the position where it was."""
    seekable = callable(getattr(stream, "seekable", None)) and stream.seekable()
    start = stream.tell() if seekable else None
    data = stream.read()
    if start is not None:
        stream.seek(start)
    if not isinstance(data, (bytes, bytearray)):
        raise InputError("The file object returned text; open it in binary mode ('rb').")
    return bytes(data)


def _source_name(source: ImageSource) -> str | None:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return _base_name(getattr(source, "name", None))


def _base_name(name: object) -> str | None:
    return Path(name).name if isinstance(name, str) and name else None


def _pil_pixels(image: Image.Image) -> np.ndarray:
    """Check the header size, fully decode, orient, and convert to (H, W, C) float32."""
    _check_dimensions(*image.size)
    image.load()
    return _mode_pixels(ImageOps.exif_transpose(image))


def _mode_pixels(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to float32 pixels with 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) channels."""
    if image.mode == "P":
        target = "RGBA" if "transparency" in image.info else "RGB"
    else:
        target = _CONVERSIONS.get(image.mode, image.mode if image.mode in _KEPT_MODES else "RGB")
    array = np.asarray(image if target == image.mode else image.convert(target))
    if target == "I":  # 32-bit integers: read as 16-bit values
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise InputError(f"This 32-bit integer image holds values from {array.min()} to {array.max()}; "
                             "integer images are read as 16-bit, 0 to 65535: save it as an 8- or 16-bit image.")
        array = array / 65535.0
    pixels = _unit_float(array, clip=target != "F")  # a float image out of [0, 1] is refused, not clipped
    return pixels if pixels.ndim == 3 else pixels[:, :, None]


def _flatten_alpha(pixels: np.ndarray) -> np.ndarray:
    """Composite LA/RGBA pixels over a white background."""
    if pixels.shape[2] not in (2, 4):
        return pixels
    colour, alpha = pixels[:, :, :-1], pixels[:, :, -1:]
    return colour * alpha + (1.0 - alpha)


def _to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    if pixels.shape[2] == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=2)
    return (pixels @ _LUMA)[:, :, None]


def _resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    if height <= width:
        return shorter, max(shorter, round(width * shorter / height))
    return max(shorter, round(height * shorter / width)), shorter


def _resize_and_crop(pixels: np.ndarray, size: int, crop_fraction: float) -> torch.Tensor:
    """Resize the shorter side to round(size / crop_fraction), then centre-crop size x size."""
    height, width = pixels.shape[:2]
    new_h, new_w = _resized_shape(height, width, round(size / crop_fraction))
    if new_h * new_w > MAX_PIXELS:
        raise InputError(
            f"Resizing this {width}x{height} image would need {new_w}x{new_h} pixels, over the "
            f"limit of {MAX_PIXELS:,}; crop it to a less extreme aspect ratio or use a smaller size."
        )
    batch = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).unsqueeze(0)
    if (new_h, new_w) != (height, width):
        batch = F.interpolate(
            batch, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return batch[:, :, top : top + size, left : left + size].clamp(0.0, 1.0).contiguous()


def pixel_digest(tensor: torch.Tensor) -> str:
    """sha256 over the dtype, shape and bytes of the canonical tensor."""
    array = tensor.detach().cpu().numpy()
    digest = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()
