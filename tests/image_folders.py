"""Writers of tiny generated image folders (never dataset files) for the folder tests."""

import os

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "fish")


def class_colour(label: int) -> int:
    """The grey level images of class `label` are drawn around (well apart between classes)."""
    return 40 + 80 * label


def write_image(path, label: int, size=(12, 10), mode="RGB", seed=0) -> None:
    """A (size[1], size[0]) image of class `label`: its colour plus a little noise."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    pixels = np.clip(class_colour(label) + rng.integers(-10, 10, shape), 0, 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels, "RGB" if mode == "RGB" else "L").save(path)


def write_folder(root, per_class=6, classes=CLASSES, split=None, mode="RGB", extensions=None):
    """root[/split]/<class>/<i>.<ext> for every class, `per_class` images each, extensions
    cycling through PNG, JPEG, BMP and WebP unless given. Returns the root."""
    extensions = extensions or (".png", ".jpg", ".bmp", ".webp")
    base = os.path.join(root, split) if split else root
    for label, name in enumerate(classes):
        for i in range(per_class):
            ext = extensions[i % len(extensions)]
            write_image(os.path.join(base, name, f"{i}{ext}"), label, mode=mode, seed=i)
    return str(root)
