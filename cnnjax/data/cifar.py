"""CIFAR-10 and CIFAR-100 from their official binary or python releases.

Each release is read from its .tar.gz archive (streamed, never extracted to
disk) or from the folder the archive extracts to:

  cifar-10-binary.tar.gz  -> cifar-10-batches-bin/: data_batch_{1..5}.bin,
      test_batch.bin, batches.meta.txt (class names, one per line).
      Record: 1 label byte, then 3072 pixel bytes.
  cifar-10-python.tar.gz  -> cifar-10-batches-py/: data_batch_{1..5},
      test_batch, batches.meta.
  cifar-100-binary.tar.gz -> cifar-100-binary/: train.bin, test.bin,
      coarse_label_names.txt, fine_label_names.txt.
      Record: 1 coarse label byte, 1 fine label byte, then 3072 pixel bytes.
  cifar-100-python.tar.gz -> cifar-100-python/: train, test, meta.

The 3072 pixel bytes are the red, green and blue planes, each 32x32 row-major;
they are returned NHWC as (N, 32, 32, 3) uint8. Python-release batches are
Python-2 pickles of dicts: b'data' an (N, 3072) uint8 array, the labels as
lists of ints (b'labels'; CIFAR-100: b'coarse_labels', b'fine_labels'); the
meta pickle holds the class names (b'label_names'; CIFAR-100:
b'coarse_label_names', b'fine_label_names'). They are read with a restricted
unpickler (see `pickles`). Class names are always read from the release, so
the names files / meta pickle are required.

Every batch file must hold the canonical release's number of records
(`Release.train_records` / `test_records`: CIFAR-10 10000 per batch, CIFAR-100
train 50000 and test 10000), so a truncated or foreign file is an error rather
than a silently smaller split; exact_counts=False accepts any number (tiny or
trimmed copies in the official layout).
"""

import dataclasses
import pathlib

import numpy as np

from cnnjax.data import archive, pickles
from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError, DataNotFoundError, count_error

IMAGE_SIZE = 32
CHANNELS = 3
PIXELS = CHANNELS * IMAGE_SIZE * IMAGE_SIZE
DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclasses.dataclass(frozen=True)
class LabelKind:
    """One kind of label a CIFAR set carries (CIFAR-100 has coarse and fine).

    Attributes:
      num_classes: labels lie in [0, num_classes).
      pickle_key: python release: the batch dict's key for the label list.
      names_file: binary release: text file with one class name per line.
      names_key: python release: the meta dict's key for the class names.
    """

    num_classes: int
    pickle_key: bytes
    names_file: str
    names_key: bytes


@dataclasses.dataclass(frozen=True)
class Release:
    """One published layout of a CIFAR set.

    Attributes:
      archive: file name of the release archive.
      folder: the folder the archive extracts to.
      pickled: python release (pickled batches) rather than binary records.
      train: batch files of the training split.
      test: batch files of the test split.
      meta: python release: the pickle holding class names.
      labels: the label kinds, in the order of a binary record's label bytes.
      title: the set's name in messages, e.g. 'CIFAR-10'.
      train_records: records in each training batch file of the canonical release.
      test_records: records in each test batch file of the canonical release.
    """

    archive: str
    folder: str
    pickled: bool
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str | None
    labels: tuple[LabelKind, ...]
    title: str
    train_records: int
    test_records: int

    @property
    def files(self) -> tuple[str, ...]:
        names = (self.meta,) if self.pickled else tuple(kind.names_file for kind in self.labels)
        return self.train + self.test + names


_CIFAR10_LABELS = (LabelKind(10, b"labels", "batches.meta.txt", b"label_names"),)
_CIFAR100_LABELS = (
    LabelKind(20, b"coarse_labels", "coarse_label_names.txt", b"coarse_label_names"),
    LabelKind(100, b"fine_labels", "fine_label_names.txt", b"fine_label_names"),
)
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))

CIFAR10_RELEASES = (
    Release(
        "cifar-10-binary.tar.gz",
        "cifar-10-batches-bin",
        False,
        tuple(f"{name}.bin" for name in _CIFAR10_TRAIN),
        ("test_batch.bin",),
        None,
        _CIFAR10_LABELS,
        title="CIFAR-10",
        train_records=10000,
        test_records=10000,
    ),
    Release(
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        True,
        _CIFAR10_TRAIN,
        ("test_batch",),
        "batches.meta",
        _CIFAR10_LABELS,
        title="CIFAR-10",
        train_records=10000,
        test_records=10000,
    ),
)
CIFAR100_RELEASES = (
    Release(
        "cifar-100-binary.tar.gz",
        "cifar-100-binary",
        False,
        ("train.bin",),
        ("test.bin",),
        None,
        _CIFAR100_LABELS,
        title="CIFAR-100",
        train_records=50000,
        test_records=10000,
    ),
    Release(
        "cifar-100-python.tar.gz",
        "cifar-100-python",
        True,
        ("train",),
        ("test",),
        "meta",
        _CIFAR100_LABELS,
        title="CIFAR-100",
        train_records=50000,
        test_records=10000,
    ),
)
CIFAR100_LABEL_MODES = {"coarse": 0, "fine": 1}  # label mode -> index into Release.labels


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _parse_records(data: bytes, where: str, num_label_bytes: int):
    """Binary batch -> labels (N, num_label_bytes) and images (N, 32, 32, 3) uint8."""
    record_size = num_label_bytes + PIXELS
    if not data or len(data) % record_size:
        raise DataError(
            f"{where}: expected a whole, non-zero number of {record_size}-byte records "
            f"({num_label_bytes} label byte(s) + {PIXELS} pixel bytes), found "
            f"{len(data)} bytes"
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, record_size)
    images = records[:, num_label_bytes:].reshape(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    return records[:, :num_label_bytes], images.transpose(0, 2, 3, 1)


def _parse_pickled(data: bytes, where: str, kinds: tuple[LabelKind, ...]):
    """Python-release batch -> labels (N, len(kinds)) and images (N, 32, 32, 3) uint8."""
    batch = pickles.load_restricted(data, where)
    if not isinstance(batch, dict):
        raise DataError(f"{where}: expected a pickled dict, found {_describe(batch)}")
    images = batch.get(b"data")
    if not (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and images.ndim == 2
        and images.shape[1] == PIXELS
        and images.shape[0] > 0
    ):
        raise DataError(
            f"{where}: expected b'data' to be an (N, {PIXELS}) uint8 array with N > 0, "
            f"found {_describe(images)}"
        )
    labels = []
    for kind in kinds:
        values = batch.get(kind.pickle_key)
        array = np.asarray(values) if isinstance(values, (list, np.ndarray)) else None
        if array is None or array.shape != images.shape[:1] or array.dtype.kind not in "iu":
            raise DataError(
                f"{where}: expected {kind.pickle_key!r} to hold {images.shape[0]} integer "
                f"labels, found {_describe(values if array is None else array)}"
            )
        labels.append(array)
    images = images.reshape(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return np.stack(labels, axis=1), images


def _missing_hint(release: Release) -> str:
    return (
        f"the release {release.archive} (from {DOWNLOAD_URL}) holds all of "
        f"{', '.join(release.files)} in {release.folder}/"
    )


def _read_split(
    release: Release,
    members: archive.Members,
    prefix: str,
    files: tuple[str, ...],
    kind_index: int,
    records: int | None,
) -> Split:
    """Reads and concatenates one split's batches, validating every label kind and, unless
    `records` is None, that every batch holds exactly `records` records."""
    all_images, all_labels = [], []
    for file in files:
        where = members.where(prefix + file)
        data = members.require(prefix + file, _missing_hint(release))
        if release.pickled:
            labels, images = _parse_pickled(data, where, release.labels)
        else:
            labels, images = _parse_records(data, where, len(release.labels))
        if records is not None and len(images) != records:
            raise count_error(where, records, len(images), release.title)
        for column, kind in enumerate(release.labels):
            found = labels[:, column]
            if found.min() < 0 or found.max() >= kind.num_classes:
                raise DataError(
                    f"{where}: expected labels in [0, {kind.num_classes}), found "
                    f"[{found.min()}, {found.max()}]"
                )
        all_images.append(images)
        all_labels.append(labels[:, kind_index])
    return Split(
        images=np.concatenate(all_images), labels=np.concatenate(all_labels).astype(np.int32)
    )


def _class_names(
    release: Release, members: archive.Members, prefix: str, kind: LabelKind
) -> tuple[str, ...]:
    if release.pickled:
        where = members.where(prefix + release.meta)
        meta = pickles.load_restricted(
            members.require(prefix + release.meta, _missing_hint(release)), where
        )
        names = meta.get(kind.names_key) if isinstance(meta, dict) else None
        if not (isinstance(names, list) and all(isinstance(name, bytes) for name in names)):
            raise DataError(
                f"{where}: expected {kind.names_key!r} to be a list of byte strings, "
                f"found {_describe(names)}"
            )
        names = [name.decode("utf-8", "replace") for name in names]
    else:
        where = members.where(prefix + kind.names_file)
        text = members.require(prefix + kind.names_file, _missing_hint(release))
        names = [
            line.strip() for line in text.decode("utf-8", "replace").splitlines() if line.strip()
        ]
    if len(names) != kind.num_classes:
        raise DataError(f"{where}: expected {kind.num_classes} class names, found {len(names)}")
    return tuple(names)


def _read_release(path, releases: tuple[Release, ...]) -> tuple[Release, archive.Members, str]:
    """Reads an archive or extracted folder of any of `releases`.

    Returns the release found, its members, and the prefix to put before a
    release file name to get its member name.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        for release in releases:
            if (path / release.train[0]).is_file():
                return release, archive.read_folder(path, set(release.files)), ""
        expected = " or ".join(f"{release.train[0]} ({release.folder}/)" for release in releases)
        raise DataNotFoundError(
            f"{path}: expected an extracted CIFAR folder holding {expected}, found neither"
        )
    members = archive.read_archive(
        path, {f"{release.folder}/{file}" for release in releases for file in release.files}
    )
    for release in releases:
        prefix = f"{release.folder}/"
        if any(name.startswith(prefix) for name in members.contents):
            return release, members, prefix
    expected = " or ".join(f"{release.folder}/{release.train[0]}" for release in releases)
    raise DataError(f"{path}: expected an archive with members {expected}, found neither")


def _load(
    path, name: str, releases: tuple[Release, ...], kind_index: int, exact_counts: bool
) -> Dataset:
    release, members, prefix = _read_release(path, releases)
    train_records, test_records = (
        (release.train_records, release.test_records) if exact_counts else (None, None)
    )
    train = _read_split(release, members, prefix, release.train, kind_index, train_records)
    test = _read_split(release, members, prefix, release.test, kind_index, test_records)
    class_names = _class_names(release, members, prefix, release.labels[kind_index])
    return Dataset(name=name, train=train, test=test, class_names=class_names, source=str(path))


def load_cifar10(path, *, exact_counts: bool = True) -> Dataset:
    """Loads CIFAR-10 from a release archive or extracted folder (binary or python).

    Args:
      path: the archive or extracted folder.
      exact_counts: require 10000 records in every batch file (the canonical
        release); False accepts any number.
    Returns:
      A Dataset of (N, 32, 32, 3) uint8 images and int32 labels in [0, 10).
    """
    return _load(path, "cifar10", CIFAR10_RELEASES, 0, exact_counts)


def load_cifar100(path, label_mode: str = "fine", *, exact_counts: bool = True) -> Dataset:
    """Loads CIFAR-100 from a release archive or extracted folder (binary or python).

    Args:
      path: the archive or extracted folder.
      label_mode: 'fine' (100 classes; dataset name 'cifar100') or 'coarse'
        (20 superclasses; dataset name 'cifar100_coarse'). Both label kinds are
        validated either way.
      exact_counts: require 50000 train and 10000 test records (the canonical
        release); False accepts any number.
    Returns:
      A Dataset of (N, 32, 32, 3) uint8 images and int32 labels.
    """
    if label_mode not in CIFAR100_LABEL_MODES:
        raise DataError(
            f"label_mode must be one of {sorted(CIFAR100_LABEL_MODES)}, found {label_mode!r}"
        )
    name = "cifar100" if label_mode == "fine" else "cifar100_coarse"
    return _load(path, name, CIFAR100_RELEASES, CIFAR100_LABEL_MODES[label_mode], exact_counts)
