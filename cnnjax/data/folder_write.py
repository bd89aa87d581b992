"""Writing a Dataset out as an image folder of PNG files, in the split layout that
`folder_scan` reads:

    OUT/train/<class>/00000.png ...   OUT/test/<class>/00000.png ...

one folder per class named after it, files numbered in the dataset's order. PNG is lossless,
so reading the folder back at the dataset's own size gives the very pixels.
"""

from __future__ import annotations

import os

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
