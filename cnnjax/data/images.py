"""Decoding one image file (or resizing one decoded image) into a square uint8 array, with
Pillow.

Pillow (already a dependency through matplotlib) decodes JPEG, PNG, BMP and WebP with the
same call, reads a file's mode and size without decoding it, and its `draft` lets a JPEG
decoder produce a reduced image directly, which makes decoding large photographs several times
faster. The resize policy is the evaluation transform of the ImageNet recipes:

    resize the shorter side to S (bilinear, antialiased), then crop the centre S x S

(`PIL.ImageOps.fit`; `fit` applies it to an image already decoded, such as the array of a
TensorFlow Datasets row). EXIF orientation tags are not applied (as in torchvision's and
timm's folder readers): pixels are used as stored.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
COLOR_MODES = ("auto", "rgb", "grayscale")  # auto: the mode every image of the folder shares
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F")  # Pillow modes read as grey


class BadImage(ValueError):
    """A file that is not a readable image; the message says why (not its path)."""


def is_image_name(path: str) -> bool:
    """Whether the file name has one of IMAGE_EXTENSIONS (any case)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def header(path: str) -> tuple[str, tuple[int, int]]:
    """(mode family, (width, height)) of an image file, read from its header only: the family
    of its Pillow mode, 'grayscale' or 'rgb'. Raises BadImage if Pillow cannot identify the
    file as an image."""
    try:
        with Image.open(path) as image:
            return ("grayscale" if image.mode in GREY_MODES else "rgb"), image.size
    except (OSError, SyntaxError, ValueError) as e:  # UnidentifiedImageError is an OSError
        raise BadImage(f"not a readable image ({_reason(e)})") from e


def decode(path, size: int, color_mode: str) -> np.ndarray:
    """The image at `path` (a file name, or a binary file object such as io.BytesIO of an
    encoded image) as (size, size, C) uint8 by `fit`'s policy; a JPEG is decoded directly at
    a reduced scale >= size (Pillow's draft). Raises BadImage for an unreadable or truncated
    file."""
    _check_mode(color_mode)
    try:
        with Image.open(path) as image:
            image.draft("L" if color_mode == "grayscale" else "RGB", (size, size))
            image.load()  # raises OSError for a truncated file
            return fit(image, size, color_mode)
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, BadImage):
            raise
        raise BadImage(f"not a readable image ({_reason(e)})") from e


def fit(image, size: int, color_mode: str) -> np.ndarray:
    """A decoded image as (size, size, C) uint8, C = 1 for 'grayscale', 3 for 'rgb': what image
    files (`decode`) and TensorFlow Datasets rows (cnnjax.data.tfds) share. `image` is a PIL
    image or an integer array (H, W) or (H, W, C), C in 1-4 (uint8, or 16-bit grey). Other
    modes are converted (alpha dropped, palettes expanded, 16-bit grey to its top byte), the
    shorter side is resized to `size` (bilinear, antialiased) and the centre crop kept; an
    image already size x size comes back pixel for pixel. Raises BadImage for an image
    without pixels or an array of another shape or type."""
    _check_mode(color_mode)
    if isinstance(image, np.ndarray):
        image = _from_array(image)
    target = "L" if color_mode == "grayscale" else "RGB"
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # (Pillow warns when converting these directly)
    if image.mode in ("I", "I;16", "I;16L", "I;16B") and target == "L":
        image = Image.fromarray(_sixteen_to_eight(np.asarray(image)))
    image = image.convert(target)
    if image.width < 1 or image.height < 1:
        raise BadImage("the image has no pixels")
    image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def _from_array(pixels: np.ndarray) -> Image.Image:
    """An (H, W) or (H, W, C) uint8 (or 16-bit grey) array as a PIL image."""
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if pixels.ndim != 3 or not 1 <= pixels.shape[-1] <= 4:
        raise BadImage(f"an image array must be (H, W) or (H, W, 1-4), got {pixels.shape}")
    if not pixels.size:
        raise BadImage("the image has no pixels")
    if pixels.dtype in (np.uint16, np.int32) and pixels.shape[-1] == 1:
        pixels = _sixteen_to_eight(pixels)
    if pixels.dtype != np.uint8:
        raise BadImage(f"an image array must be uint8 (or 16-bit grey), got {pixels.dtype}")
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def channels(color_mode: str) -> int:
    """C of images decoded in `color_mode`: 1 for 'grayscale', 3 for 'rgb' (and 'auto', whose
    colour folders decode as rgb)."""
    return 1 if color_mode == "grayscale" else 3


def _check_mode(color_mode: str) -> None:
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale', got {color_mode!r}")


def _sixteen_to_eight(pixels: np.ndarray) -> np.ndarray:
    """16-bit (or 32-bit integer) grey levels to 8 bits by their top byte: x >> 8 (Pillow's
    own conversion clips at 255 instead, saturating every pixel of a 16-bit image)."""
    return (np.clip(pixels, 0, 65535).astype(np.uint32) >> 8).astype(np.uint8)


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
