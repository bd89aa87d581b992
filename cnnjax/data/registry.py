"""The dataset registry: names, and `load`, which finds and reads a dataset."""

import functools
import os

from cnnjax.data import cifar, digits, folder, idx, locate, tfds
from cnnjax.data.dataset import Dataset
from cnnjax.data.errors import DataError, DataNotFoundError

DATASETS = (
    "digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "cifar100_coarse", "folder", "tfds"
)

_READERS = {
    "mnist": functools.partial(idx.load_mnist_dir, name="mnist"),
    "fashion_mnist": functools.partial(idx.load_mnist_dir, name="fashion_mnist"),
    "cifar10": cifar.load_cifar10,
    "cifar100": functools.partial(cifar.load_cifar100, label_mode="fine"),
    "cifar100_coarse": functools.partial(cifar.load_cifar100, label_mode="coarse"),
}


def list_datasets() -> list[str]:
    """The names `load` accepts."""
    return list(DATASETS)


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    exact_counts: bool = True,
    folder_options: folder.FolderOptions = folder.FolderOptions(),
    tfds_options: tfds.TfdsOptions | None = None,
) -> Dataset:
    """Finds and reads a dataset, fully validated.

    Args:
      name: one of DATASETS.
      data_dir: folder to read from, searched alone (see `locate`); None to
        search $CNNJAX_DATA_DIR, the default places, then TFDS's prepared
        copies if tensorflow_datasets is installed. Ignored by 'digits', which
        comes with scikit-learn.
      exact_counts: require every file to hold the canonical release's number
        of records (e.g. 10000 per CIFAR-10 batch, 60000 MNIST training
        images); False accepts a copy of another size in the official layout.
        Ignored by 'digits' and by TFDS's prepared copies (read as TFDS built them).
      folder_options: how to read 'folder', your own images in an ImageFolder layout
        under data_dir (`cnnjax.data.folder`); ignored by the other names.
      tfds_options: which TensorFlow Datasets set 'tfds' reads, and how
        (`cnnjax.data.tfds.load_named`; data_dir is then ignored); ignored by the other names.
    Returns:
      The Dataset: (N, H, W, C) uint8 images and int32 labels per split.
    Raises:
      DataError: unknown name, malformed data, or (exact_counts) a record count
        other than the canonical release's.
      DataNotFoundError: no copy found; the message says where it looked.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "digits":
        return digits.load_digits()
    if name == "folder":
        if not data_dir:
            raise DataError("the folder dataset needs data_dir: the root of your image folder")
        return folder.load_folder(os.fspath(data_dir), folder_options)
    if name == "tfds":
        if tfds_options is None or not tfds_options.name:
            raise DataError("the tfds dataset needs tfds_options naming a TFDS set (e.g. cifar10)")
        return tfds.load_named(tfds_options)
    try:
        path = locate.find(name, data_dir)
    except DataNotFoundError as not_found:
        if data_dir is not None or not tfds.available():
            raise
        try:
            return tfds.load_tfds(name)
        except DataNotFoundError as tfds_error:
            raise DataNotFoundError(f"{not_found}\n{tfds_error}") from tfds_error
    return _READERS[name](path, exact_counts=exact_counts)
