"""The in-memory types every reader returns: `Split` and `Dataset`."""

import dataclasses

import numpy as np

from cnnjax.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of an image set.

    Attributes:
      images: (N, H, W, C) uint8, NHWC, C=1 for grey images.
      labels: (N,) int32 class indices, or (N, H, W) int32 per-pixel classes (segmentation).
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise DataError(
                f"Split.images must be (N, H, W, C) uint8, found {self.images.shape} "
                f"{self.images.dtype}"
            )
        shapes = (self.images.shape[:1], self.images.shape[:3])
        if self.labels.dtype != np.int32 or self.labels.shape not in shapes:
            raise DataError(
                f"Split.labels must be {shapes[0]} or {shapes[1]} int32, found "
                f"{self.labels.shape} {self.labels.dtype}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test pair of splits with its class names.

    Attributes:
      name: registry name, e.g. 'mnist' (see `cnnjax.data.DATASETS`).
      train: the training split.
      test: the test split.
      class_names: one name per class; label i is class_names[i].
      source: where it came from: a file or folder path, 'sklearn', or 'tfds:<name>'.
      val: a validation split the source provides (an image folder's val/), else None.
      skipped: (path, reason) of the files a reader skipped (image folders with
        dataset.skip_bad_images), else ().
    """

    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]
    source: str
    val: Split | None = None
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        splits = (("train", self.train), ("test", self.test), ("val", self.val))
        for split_name, split in ((n, s) for n, s in splits if s is not None):
            if split.images.shape[1:] != self.train.images.shape[1:]:
                raise DataError(
                    f"{self.name} ({self.source}): {split_name} images are "
                    f"{split.images.shape[1:]}, train images are {self.train.images.shape[1:]}"
                )
            if len(split) and not 0 <= split.labels.min() <= split.labels.max() < self.num_classes:
                raise DataError(
                    f"{self.name} ({self.source}): {split_name} labels must lie in "
                    f"[0, {self.num_classes}), found [{split.labels.min()}, {split.labels.max()}]"
                )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
