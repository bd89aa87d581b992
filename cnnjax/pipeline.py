"""The on-device input pipeline.

Images stay on the device as uint8 (N, H, W, C); every epoch is a permutation drawn from
(seed, epoch) alone, batches are sliced from it on the device, and normalisation and
augmentation (cnnjax.augment) happen inside the compiled step. Evaluation pads the last batch
and masks it, so every example counts exactly once.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.augment import Augment  # noqa: F401  (the pipeline's augmentation, re-exported)
from cnnjax.data import Split

NORMALIZATIONS = ("standardize", "scale01", "none", "imagenet")
# torchvision's pretrained weights' statistics, on [0, 1] RGB pixels (dataset.normalize=imagenet)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
STATS_CHUNK = 1 << 20  # pixel rows per chunk of Normalizer.fit's integer sums


def holdout(train: Split, val_size: int, seed: int) -> tuple[Split, Split]:
    """Deterministically splits `val_size` examples off `train` (permutation from `seed`).

    Returns (train_rest, validation). The same (data, val_size, seed) always gives the same split.
    """
    n = len(train.labels)
    if not 0 <= val_size < n:
        raise ValueError(
            f"dataset.val_size must be in [0, {n}) for a training split of {n} "
            f"examples, got {val_size}"
        )
    order = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = np.sort(order[:val_size]), np.sort(order[val_size:])
    return (
        Split(train.images[train_idx], train.labels[train_idx]),
        Split(train.images[val_idx], train.labels[val_idx]),
    )


def subsample_indices(n: int, size: int, seed) -> np.ndarray:
    """Sorted indices of `size` of n examples drawn without replacement (`seed`: an int or a
    sequence of ints for numpy's default_rng); all n when size is 0."""
    if size == 0:
        return np.arange(n)
    if not 0 < size <= n:
        raise ValueError(f"dataset.train_size must be in [0, {n}], got {size}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def subsample(split: Split, size: int, seed) -> Split:
    """`size` examples of `split` drawn without replacement (permutation from `seed`, kept in
    their original order); the whole split when size is 0. Raises ValueError if size > N."""
    if size == 0:
        return split
    keep = subsample_indices(len(split.labels), size, seed)
    return Split(split.images[keep], split.labels[keep])


def select_classes(split: Split, classes: tuple[int, ...]) -> Split:
    """The examples whose label is in `classes`, relabelled: class classes[i] becomes label i.
    The examples keep their order."""
    keep = np.isin(split.labels, classes)
    relabel = np.full(max(max(classes), int(split.labels.max(initial=0))) + 1, -1, np.int32)
    relabel[list(classes)] = np.arange(len(classes), dtype=np.int32)
    return Split(split.images[keep], relabel[split.labels[keep]])


def per_class_indices(labels: np.ndarray, count: int, seed) -> np.ndarray:
    """Sorted indices of `count` examples of every class present in `labels` (drawn without
    replacement with `seed`). Raises ValueError naming a class with fewer than `count`."""
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        (where,) = np.nonzero(labels == label)
        if len(where) < count:
            raise ValueError(
                f"dataset.train_per_class={count}: class {label} has only {len(where)} "
                f"training examples"
            )
        keep.append(rng.choice(where, count, replace=False))
    return np.sort(np.concatenate(keep))


def per_class(split: Split, count: int, seed) -> Split:
    """`count` examples of every class present (drawn without replacement with `seed`, kept in
    their original order): a class-balanced subset. Raises ValueError naming a class with
    fewer than `count` examples."""
    keep = per_class_indices(split.labels, count, seed)
    return Split(split.images[keep], split.labels[keep])


def pixel_permutation(height: int, width: int, seed: int) -> np.ndarray:
    """A fixed random order of the height * width pixel positions, from `seed`."""
    return np.random.default_rng(seed).permutation(height * width)


def permute_pixels(split: Split, order: np.ndarray) -> Split:
    """Every image's pixels moved by the same permutation `order` of the H*W positions
    (channels move together): out[n].reshape(H*W, C) = in[n].reshape(H*W, C)[order].
    Destroys spatial locality, keeps every pixel value and the label."""
    n, h, w, c = split.images.shape
    flat = split.images.reshape(n, h * w, c)[:, order]
    return Split(flat.reshape(n, h, w, c), split.labels)


@dataclasses.dataclass(frozen=True)
class Normalizer:
    """x -> (x - mean) / std per channel, in pixel units (0..255).

    `standardize` uses the training split's per-channel mean and std; `scale01` is mean 0,
    std 255; `none` is mean 0, std 1; `imagenet` is ImageNet's RGB mean and std (what
    torchvision's pretrained weights expect), times 255.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, images: np.ndarray, mode: str) -> "Normalizer":
        """Statistics of uint8 images (N, H, W, C) for normalisation `mode`. 'standardize'
        computes each channel's mean and standard deviation exactly, from integer sums of the
        pixels and of their squares (much faster than converting the pixels to float64)."""
        channels = images.shape[-1]
        if mode == "standardize":
            if images.dtype != np.uint8:
                raise ValueError(f"Normalizer.fit needs uint8 images, got {images.dtype}")
            if hasattr(images, "channel_sums"):  # images left in their files: sums kept
                sums, squares, n = images.channel_sums()
            else:
                sums, squares, n = _integer_sums(images)
            mean = [int(s) / n for s in sums]
            # n^2 var = n sum(x^2) - (sum x)^2, exact in Python integers.
            var = [(n * int(q) - int(s) ** 2) / n**2 for s, q in zip(sums, squares)]
            return cls(tuple(mean), tuple(v**0.5 if v > 0 else 1.0 for v in var))
        if mode == "scale01":
            return cls((0.0,) * channels, (255.0,) * channels)
        if mode == "none":
            return cls((0.0,) * channels, (1.0,) * channels)
        if mode == "imagenet":
            if channels != 3:
                raise ValueError(
                    f"dataset.normalize='imagenet' needs RGB images, got {channels} channel(s)"
                )
            return cls(tuple(255 * m for m in IMAGENET_MEAN), tuple(255 * s for s in IMAGENET_STD))
        raise ValueError(f"unknown dataset.normalize {mode!r}; valid: {', '.join(NORMALIZATIONS)}")

    def __call__(self, images: jax.Array) -> jax.Array:
        mean = jnp.asarray(self.mean, jnp.float32)
        std = jnp.asarray(self.std, jnp.float32)
        return (images.astype(jnp.float32) - mean) / std


def _integer_sums(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(per-channel sum of the pixels, of their squares, pixels per channel) of uint8 images."""
    channels = images.shape[-1]
    flat = images.reshape(-1, channels)
    sums, squares = np.zeros(channels, np.uint64), np.zeros(channels, np.uint64)
    for start in range(0, len(flat), STATS_CHUNK):
        # (C, rows): numpy sums long contiguous rows far faster than short columns.
        chunk = np.ascontiguousarray(flat[start : start + STATS_CHUNK].T).astype(np.uint32)
        sums += chunk.sum(axis=1, dtype=np.uint64)
        squares += (chunk * chunk).sum(axis=1, dtype=np.uint64)
    return sums, squares, len(flat)


def epoch_permutation(seed: int, epoch: int | jax.Array, n: int) -> jax.Array:
    """The order in which epoch `epoch` visits the n training examples: a function of
    (seed, epoch) only."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
    return jax.random.permutation(key, n)


def padded_batches(split: Split, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation batches: (B, batch_size, H, W, C) images, (B, batch_size, ...) labels and a
    (B, batch_size) float mask that is 1 for real examples and 0 for the padding of the last
    batch. Every example appears exactly once."""
    n = len(split.labels)
    num_batches = -(-n // batch_size)
    pad = num_batches * batch_size - n
    images = np.concatenate([split.images, np.zeros((pad,) + split.images.shape[1:], np.uint8)])
    labels = np.concatenate([split.labels, np.zeros((pad,) + split.labels.shape[1:], np.int32)])
    mask = np.concatenate([np.ones((n,), np.float32), np.zeros((pad,), np.float32)])
    shape = (num_batches, batch_size)
    return (
        images.reshape(shape + split.images.shape[1:]),
        labels.reshape(shape + split.labels.shape[1:]),
        mask.reshape(shape),
    )
