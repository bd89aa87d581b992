"""A synthetic semantic-segmentation set built from a digit classification set (e.g. MNIST).

`digit_canvases(images, labels, ...)` places 1 to `max_digits` digits, drawn at random from
(images, labels), at random positions on a black canvas of `canvas_size` x `canvas_size`
pixels, deterministically from `seed`:

    canvas = max over the placed digits of their pixels            (N, H, W, 1) uint8
    mask   = 1 + class of the digit whose pixel is brightest there, where that pixel is
             >= `threshold`; 0 (background) elsewhere                (N, H, W) int32

so the mask has 1 + num_classes classes (background first) and every labelled pixel is ink of
its digit. Digits may overlap; the brighter stroke wins the pixel, as it wins the canvas.
"""

from __future__ import annotations

import numpy as np

BACKGROUND = 0


def digit_canvases(
    images: np.ndarray,
    labels: np.ndarray,
    num_canvases: int,
    canvas_size: int = 64,
    max_digits: int = 3,
    threshold: int = 128,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(canvases (N, S, S, 1) uint8, masks (N, S, S) int32) from digit images (M, h, w) or
    (M, h, w, 1) uint8 and their labels (M,), as the module docstring describes."""
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"digit_canvases: images must be (M, h, w) uint8, got {images.shape} {images.dtype}"
        )
    _, h, w = images.shape
    if canvas_size < max(h, w):
        raise ValueError(
            f"digit_canvases: canvas_size={canvas_size} is smaller than a digit ({h}x{w})"
        )
    if max_digits < 1:
        raise ValueError(f"digit_canvases: max_digits must be >= 1, got {max_digits}")
    rng = np.random.default_rng(seed)
    canvases = np.zeros((num_canvases, canvas_size, canvas_size), np.uint8)
    masks = np.zeros((num_canvases, canvas_size, canvas_size), np.int32)
    for n in range(num_canvases):
        for i in rng.choice(len(images), rng.integers(1, max_digits + 1)):
            y, x = rng.integers(0, canvas_size - h + 1), rng.integers(0, canvas_size - w + 1)
            patch = canvases[n, y : y + h, x : x + w]
            wins = (images[i] > patch) & (images[i] >= threshold)
            masks[n, y : y + h, x : x + w][wins] = labels[i] + 1  # ties: the earlier digit
            np.maximum(patch, images[i], out=patch)
    return canvases[..., None], masks
