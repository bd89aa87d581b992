"""Writing a Dataset out as an image folder of PNG files, in the split layout that
`folder_scan` reads:

    OUT/train/<class>/00000.png ...   OUT/test/<class>/00000.png ...

one folder per class named after it, files numbered in the dataset's order. PNG is lossless,
so reading the folder back at the dataset's own size gives the very pixels.

`write_synthetic_folder` writes a generated folder of any size instead (JPEG photographs'
stand-ins, one file at a time): what the streaming pipeline is measured on at 224 x 224.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from cnnjax.data.dataset import Dataset
from cnnjax.data.errors import DataError


def folder_name(class_name: str) -> str:
    """A class name as a folder name (path separators replaced)."""
    return class_name.replace(os.sep, "_").replace("/", "_") or "_"


def write_image_folder(ds: Dataset, out: str, limit: int = 0) -> dict[str, int]:
    """Writes ds's train and test splits (at most `limit` images each; 0: all) under `out`;
    returns the images written per split."""
    names = [folder_name(c) for c in ds.class_names]
    if len(set(names)) != len(names):
        raise DataError(f"{ds.name}: class names that collide as folder names: {names}")
    written = {}
    for split_name, split in (("train", ds.train), ("test", ds.test)):
        n = len(split) if not limit else min(limit, len(split))
        for name in names:
            os.makedirs(os.path.join(out, split_name, name), exist_ok=True)
        for i in range(n):
            pixels = split.images[i]
            image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
            image.save(os.path.join(out, split_name, names[split.labels[i]], f"{i:05d}.png"))
        written[split_name] = n
    return written


def synthetic_image(label: int, num_classes: int, size: int, rng) -> np.ndarray:
    """(size, size, 3) uint8: noise over a smooth background, with a bright disc whose
    position on a circle tells the class (learnable, and different in every image)."""
    y, x = np.mgrid[0:size, 0:size] / size
    angle = 2 * np.pi * label / num_classes
    cy, cx = 0.5 + 0.3 * np.sin(angle), 0.5 + 0.3 * np.cos(angle)
    cy, cx = cy + rng.normal(0, 0.03), cx + rng.normal(0, 0.03)
    disc = ((y - cy) ** 2 + (x - cx) ** 2 < 0.015) * 120.0
    background = 60 + 40 * np.sin(2 * np.pi * (x * rng.uniform(1, 3) + y * rng.uniform(1, 3)))
    noise = rng.normal(0, 20, (size, size, 3))
    pixels = background[..., None] + disc[..., None] * rng.uniform(0.6, 1, 3) + noise
    return np.clip(pixels, 0, 255).astype(np.uint8)


def write_synthetic_folder(
    out: str, num_classes: int, train_per_class: int, test_per_class: int, size: int, seed=0
) -> dict[str, int]:
    """OUT/{train,test}/class_<c>/<i>.jpg: generated (size, size) RGB JPEG images
    (`synthetic_image`, quality 90), written one at a time; returns the images per split."""
    rng = np.random.default_rng(seed)
    written = {}
    for split_name, per_class in (("train", train_per_class), ("test", test_per_class)):
        for c in range(num_classes):
            folder = os.path.join(out, split_name, f"class_{c}")
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                pixels = synthetic_image(c, num_classes, size, rng)
                Image.fromarray(pixels).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
        written[split_name] = num_classes * per_class
    return written
