"""Reading image-classification datasets into NumPy arrays.

    from cnnjax import data
    ds = data.load("mnist", data_dir=None)   # -> data.Dataset
    ds.train.images  # (N, 28, 28, 1) uint8, NHWC
    ds.train.labels  # (N,) int32 in [0, ds.num_classes)

See `registry.load` for the search order and the reader modules for the
supported file layouts.
"""

from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError, DataNotFoundError
from cnnjax.data.registry import DATASETS, list_datasets, load

__all__ = [
    "DATASETS",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "Split",
    "list_datasets",
    "load",
]
