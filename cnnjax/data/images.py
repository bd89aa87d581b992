"""Decoding one image file into a square uint8 array, with Pillow.

Pillow (already a dependency through matplotlib) decodes JPEG, PNG, BMP and WebP with the
same call, reads a file's mode and size without decoding it, and its `draft` lets a JPEG
decoder produce a reduced image directly, which makes decoding large photographs several times
faster. The resize policy is the evaluation transform of the ImageNet recipes:

    resize the shorter side to S (bilinear, antialiased), then crop the centre S x S

(`PIL.ImageOps.fit`). EXIF orientation tags are not applied (as in torchvision's and timm's
folder readers): pixels are used as stored.
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


def decode(path: str, size: int, color_mode: str) -> np.ndarray:
    """The image at `path` as (size, size, C) uint8: C = 1 for 'grayscale', 3 for 'rgb'
    (other modes converted: alpha dropped, palettes expanded, 16-bit grey to its top byte),
    shorter side resized to `size`, centre crop.
    Raises BadImage for an unreadable or truncated file."""
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale', got {color_mode!r}")
    target = "L" if color_mode == "grayscale" else "RGB"
    try:
        with Image.open(path) as image:
            image.draft(target, (size, size))  # JPEG: decode at a reduced scale >= size
            image.load()  # raises OSError for a truncated file
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # (Pillow warns when converting these directly)
            if image.mode in ("I", "I;16", "I;16L", "I;16B") and target == "L":
                image = Image.fromarray(_sixteen_to_eight(np.asarray(image)))
            image = image.convert(target)
            if image.width < 1 or image.height < 1:
                raise BadImage("the image has no pixels")
            image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, BadImage):
            raise
        raise BadImage(f"not a readable image ({_reason(e)})") from e
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def _sixteen_to_eight(pixels: np.ndarray) -> np.ndarray:
    """16-bit (or 32-bit integer) grey levels to 8 bits by their top byte: x >> 8 (Pillow's
    own conversion clips at 255 instead, saturating every pixel of a 16-bit image)."""
    return (np.clip(pixels, 0, 65535).astype(np.uint32) >> 8).astype(np.uint8)


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
