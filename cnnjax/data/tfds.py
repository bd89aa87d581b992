"""Optional fallback: datasets already prepared by TensorFlow Datasets.

`tensorflow_datasets` is imported only by `load_tfds`, which the registry calls
only when no local copy was found. Nothing is downloaded (download=False):
prepare a set beforehand with e.g. `tfds build mnist`.
"""

import importlib.util

import numpy as np

from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataNotFoundError

# registry name -> (TFDS name, label feature)
TFDS_NAMES = {
    "mnist": ("mnist", "label"),
    "fashion_mnist": ("fashion_mnist", "label"),
    "cifar10": ("cifar10", "label"),
    "cifar100": ("cifar100", "label"),
    "cifar100_coarse": ("cifar100", "coarse_label"),
}


def available() -> bool:
    """Whether tensorflow_datasets is installed (without importing it)."""
    return importlib.util.find_spec("tensorflow_datasets") is not None


def _split(batch: dict, label_key: str) -> Split:
    return Split(
        images=np.asarray(batch["image"], np.uint8), labels=np.asarray(batch[label_key], np.int32)
    )


def load_tfds(name: str) -> Dataset:
    """Loads registry dataset `name` from TFDS's prepared copy.

    Raises:
      DataNotFoundError: TFDS has no prepared copy (or fails to read it).
    """
    import tensorflow_datasets as tfds  # Imported here: heavy, and optional.

    tfds_name, label_key = TFDS_NAMES[name]
    try:
        (train, test), info = tfds.load(
            tfds_name, split=["train", "test"], batch_size=-1, with_info=True, download=False
        )
    except Exception as e:  # TFDS raises assorted types for a missing or unreadable set.
        raise DataNotFoundError(
            f"tfds:{tfds_name}: not available ({type(e).__name__}: {e}); "
            f"prepare it with `tfds build {tfds_name}`"
        ) from e
    return Dataset(
        name=name,
        train=_split(tfds.as_numpy(train), label_key),
        test=_split(tfds.as_numpy(test), label_key),
        class_names=tuple(info.features[label_key].names),
        source=f"tfds:{tfds_name}",
    )
