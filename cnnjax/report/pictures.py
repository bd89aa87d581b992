"""Pictures of what a network sees: image grids (filters, feature maps, test images) and
heatmaps overlaid on images. Inputs are NumPy arrays; outputs PNG files."""

from __future__ import annotations

from typing import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def to_unit(x: np.ndarray) -> np.ndarray:
    """x rescaled to [0, 1] by its own min and max (a constant array becomes 0.5)."""
    x = np.asarray(x, np.float64)
    span = x.max() - x.min()
    return np.full_like(x, 0.5) if span == 0 else (x - x.min()) / span


def _show(ax, image: np.ndarray, title: str = "") -> None:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def save_grid(
    path: str,
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int = 8,
    title: str = "",
    row_labels: Sequence[str] | None = None,
) -> None:
    """A grid of images (H, W), (H, W, 1) or (H, W, 3) in [0, 1], `columns` per row."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _show(ax, images[i], titles[i] if titles else "")
        else:
            ax.axis("off")
    if row_labels:
        for r, label in enumerate(row_labels):
            axes[r, 0].set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An RGB picture of `image` (H, W, C) in [0, 1] with `heatmap` (H, W) in [0, 1] laid over
    it in the 'jet' colour map."""
    base = np.asarray(image, np.float64)
    if base.shape[-1] == 1:
        base = np.repeat(base, 3, axis=-1)
    heat = plt.get_cmap("jet")(np.clip(heatmap, 0, 1))[..., :3]
    return (1 - alpha) * base + alpha * heat


def label_colours(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """An RGB picture (H, W, 3) in [0, 1] of an int label map (H, W): class 0 (background)
    black, classes 1 .. num_classes - 1 in the colours of matplotlib's 'tab10' (then 'tab20')."""
    cmap = plt.get_cmap("tab10" if num_classes <= 11 else "tab20")
    palette = np.concatenate([np.zeros((1, 3)), cmap(np.arange(num_classes - 1))[:, :3]])
    return palette[np.asarray(mask)]


def flow_colours(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """An RGB picture (H, W, 3) in [0, 1] of a flow field (H, W, 2) (rows, columns) in the
    usual colour wheel: hue = direction, saturation = magnitude / max_magnitude (default: the
    field's largest), white = no motion."""
    dy, dx = np.asarray(flow[..., 0], np.float64), np.asarray(flow[..., 1], np.float64)
    magnitude = np.hypot(dx, dy)
    top = max_magnitude if max_magnitude else max(float(magnitude.max()), 1e-12)
    hsv = np.stack(
        [
            (np.arctan2(-dy, -dx) / (2 * np.pi)) % 1.0,
            np.clip(magnitude / top, 0, 1),
            np.ones_like(magnitude),
        ],
        -1,
    )
    return matplotlib.colors.hsv_to_rgb(hsv)
