"""MNIST and Fashion-MNIST from their IDX files.

An IDX file is big-endian: two zero bytes, a type code byte (0x08 = unsigned
byte, the only type the MNIST family uses and the only one read here), a byte
giving the number of dimensions D, D uint32 sizes, then exactly prod(sizes)
values in row-major order. Image files have magic number 0x00000803 (D=3:
N x 28 x 28), label files 0x00000801 (D=1: N). Files may be gzip'd; gzip is
recognised by its content, not by the file name.

A folder holding one of these sets has the four canonical files, each gzip'd
(``.gz``) or not; when both forms exist the ``.gz`` one is read, since its CRC
catches corruption. Images and labels must agree in count, and that count
must be the canonical sets' (`SPLIT_SIZES`: 60000 train, 10000 test) unless
exact_counts=False, which accepts any number (tiny or trimmed copies).
"""

import gzip
import math
import pathlib
import struct
import zlib

import numpy as np

from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError, DataNotFoundError, count_error

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
UBYTE = 0x08
IMAGE_SIZE = 28
NUM_CLASSES = 10

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FILE_NAMES = tuple(name for pair in SPLIT_FILES.values() for name in pair)
SPLIT_SIZES = {"train": 60000, "test": 10000}  # examples per split of MNIST and Fashion-MNIST

CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(NUM_CLASSES)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}  # names in messages

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: pathlib.Path) -> bytes:
    """Returns the file's contents, gunzipped if it is gzip'd."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return gzip.decompress(raw) if raw.startswith(_GZIP_MAGIC) else raw
    except FileNotFoundError as e:
        raise DataNotFoundError(f"{path}: no such file") from e
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read (corrupt or truncated gzip?): {e}") from e


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Reads an unsigned-byte IDX file (gzip'd or not).

    Args:
      path: the file.
      expected_magic: if given, the 4-byte magic number the file must start
        with, e.g. IMAGES_MAGIC or LABELS_MAGIC.
    Returns:
      A uint8 array shaped as the header's dimensions.
    Raises:
      DataError: the file is missing, not IDX, of another type, or its payload
        is not exactly prod(dimensions) bytes.
    """
    path = pathlib.Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(
            f"{path}: expected an IDX header of at least 4 bytes, found {len(raw)} bytes"
        )
    (magic,) = struct.unpack(">I", raw[:4])
    if expected_magic is not None and magic != expected_magic:
        raise DataError(
            f"{path}: expected IDX magic number 0x{expected_magic:08x}, found 0x{magic:08x}"
        )
    if raw[0] or raw[1]:
        raise DataError(
            f"{path}: not an IDX file: expected its first two bytes to be zero, "
            f"found 0x{raw[0]:02x} 0x{raw[1]:02x}"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code != UBYTE:
        raise DataError(
            f"{path}: expected IDX type code 0x{UBYTE:02x} (unsigned byte), found 0x{type_code:02x}"
        )
    if ndim == 0:
        raise DataError(f"{path}: expected at least one IDX dimension, found 0")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(
            f"{path}: truncated header: expected {header_size} bytes for {ndim} "
            f"dimensions, found {len(raw)}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected, found = math.prod(dims), len(raw) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "trailing bytes"
        raise DataError(
            f"{path}: {problem}: header dimensions {dims} need {expected} payload bytes, "
            f"found {found}"
        )
    return np.frombuffer(raw, np.uint8, offset=header_size).reshape(dims).copy()


def find_idx_file(directory, stem: str) -> pathlib.Path | None:
    """Returns directory/stem.gz, else directory/stem, whichever exists first."""
    directory = pathlib.Path(directory)
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def read_split(images_path, labels_path) -> Split:
    """Reads one split: images (N, 28, 28, 1) uint8 and labels (N,) int32 in [0, 10)."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{images_path}: expected {IMAGE_SIZE}x{IMAGE_SIZE} images, "
            f"found {images.shape[1]}x{images.shape[2]}"
        )
    if images.shape[0] == 0:
        raise DataError(f"{images_path}: expected at least one image, found none")
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: expected {images.shape[0]} labels to match {images_path}, "
            f"found {labels.shape[0]}"
        )
    if labels.max() >= NUM_CLASSES:
        raise DataError(
            f"{labels_path}: expected labels in [0, {NUM_CLASSES}), found {labels.max()}"
        )
    return Split(images=images[..., np.newaxis], labels=labels.astype(np.int32))


def _check_size(split: Split, images_path: pathlib.Path, expected: int, name: str) -> None:
    """Raises DataError naming `images_path` unless `split` holds `expected` examples."""
    if len(split) != expected:
        raise count_error(str(images_path), expected, len(split), TITLES[name])


def load_mnist_dir(directory, name: str = "mnist", *, exact_counts: bool = True) -> Dataset:
    """Loads MNIST or Fashion-MNIST from a folder holding the four IDX files.

    Args:
      directory: folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
      name: 'mnist' or 'fashion_mnist'; picks the class names.
      exact_counts: require the canonical SPLIT_SIZES (60000 train, 10000
        test); False accepts any number of examples.
    Returns:
      A Dataset of (N, 28, 28, 1) uint8 images and int32 labels in [0, 10).
    """
    if name not in CLASS_NAMES:
        raise DataError(f"IDX dataset name must be one of {sorted(CLASS_NAMES)}, found {name!r}")
    directory = pathlib.Path(directory)
    paths = {stem: find_idx_file(directory, stem) for stem in FILE_NAMES}
    missing = [stem for stem, path in paths.items() if path is None]
    if missing:
        raise DataNotFoundError(
            f"{directory}: missing {', '.join(f'{stem}[.gz]' for stem in missing)}; "
            f"a {name} folder "
            f"must hold all of {', '.join(f'{stem}.gz' for stem in FILE_NAMES)} (gzip'd or not)"
        )
    splits = {
        split: read_split(paths[images], paths[labels])
        for split, (images, labels) in SPLIT_FILES.items()
    }
    if exact_counts:
        for split, (images, _) in SPLIT_FILES.items():
            _check_size(splits[split], paths[images], SPLIT_SIZES[split], name)
    return Dataset(
        name=name,
        train=splits["train"],
        test=splits["test"],
        class_names=CLASS_NAMES[name],
        source=str(directory),
    )
