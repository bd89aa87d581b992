"""Reading image-classification datasets into NumPy arrays.

    from cnnjax import data
    ds = data.load("mnist", data_dir=None)   # -> data.Dataset
    ds.train.images  # (N, 28, 28, 1) uint8, NHWC
    ds.train.labels  # (N,) int32 in [0, ds.num_classes)

    ds = data.load("folder", "photos/", folder_options=data.FolderOptions(image_size=64))

See `registry.load` for the search order, the reader modules for the supported file layouts,
and `folder` for your own images.
"""

from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError, DataNotFoundError
from cnnjax.data.folder import FolderOptions, load_folder
from cnnjax.data.folder_write import write_image_folder
from cnnjax.data.images import COLOR_MODES
from cnnjax.data.registry import DATASETS, list_datasets, load
from cnnjax.data.stratify import stratified_split

__all__ = [
    "COLOR_MODES",
    "DATASETS",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "FolderOptions",
    "Split",
    "list_datasets",
    "load",
    "load_folder",
    "stratified_split",
    "write_image_folder",
]
