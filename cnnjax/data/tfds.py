"""TensorFlow Datasets: any prepared TFDS set by name (`dataset.name=tfds`), and the registry's
in-memory fallback for a few named sets.

    options = tfds.TfdsOptions("imagenette/320px-v2", image_size=160, lazy=True)
    ds = data.load("tfds", tfds_options=options)  # train: TfdsImages (rows read on access)

By name (`load_named`): the rows are read by index from TFDS's random-access data source
(`tfds.data_source`, which needs a copy prepared in the array_record format: `tfds build NAME
--file_format=array_record`, or `download=True` to let TFDS download and prepare it). Each image
is decoded and resized with the image folders' policy (images.decode / images.fit: shorter
side to `image_size`, centre crop, `color_mode`), labels are the label feature's integers and
the class names its names. Every row of the splits used is decoded once before training:
`lazy` (the streaming pipeline) keeps only each row's label and per-channel pixel sums
(`TfdsImages`, decoded again when a batch reads it; the sums make the normalisation exact);
otherwise the decoded images are kept as NumPy arrays. Both are cached under the image folders'
cache folder, keyed by the dataset's full name and version, the split, the data folder and
the decoding options. Opening TFDS (cnnjax.data.tfds_open.open_dataset) is the only part that
imports tensorflow_datasets: everything here reads an `Opened`, which tests build from lists.

The fallback (`load_tfds`, called by the registry for 'mnist', 'cifar10', ... when no local
copy exists) loads a whole prepared set into memory with `tfds.load(batch_size=-1)`, as
stored (no resizing), in any file format; nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from typing import Callable

import numpy as np

from cnnjax.data import folder, images, lazy_images
from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError
from cnnjax.data.tfds_open import (  # noqa: F401  (re-exported: the registry's fallback)
    TFDS_NAMES,
    Opened,
    TfdsOptions,
    available,
    load_tfds,
    open_dataset,
)

CACHE_VERSION = 1  # bump when reading TFDS rows changes (folder.CACHE_VERSION: decoding)


class TfdsImages(lazy_images.LazyRows):
    """(N, S, S, C) uint8 rows of a TFDS split, read and decoded on access (lazy_images.LazyRows
    with record indices as keys).

    Args:
      rows: the split's random-access rows (Opened.rows).
      where: the split's name in messages, e.g. 'tfds:cifar10/3.0.2 train'.
      image_key: the image feature.
      indices: (N,) the rows' indices into `rows`.
      image_size, color_mode, sums, squares: as LazyRows.
    """

    def __init__(self, rows, where, image_key, indices, image_size, color_mode, sums, squares):
        keys = np.asarray(indices, np.int64)
        super().__init__(keys, image_size, color_mode, sums, squares)
        self.rows, self.where, self.image_key = rows, where, image_key

    def _decode(self, key) -> np.ndarray:
        try:
            return decode_row(self.rows[int(key)], self.image_key, self.image_size, self.color_mode)
        except images.BadImage as e:
            raise lazy_images.UnreadableImage(f"{self.where}[{key}]: {e}") from None


def decode_row(row: dict, image_key: str, size: int, color_mode: str) -> np.ndarray:
    """A TFDS row's image as (size, size, C) uint8 (images.fit's policy): encoded bytes (the
    data source's rows with decoding skipped) are decoded as a file is, arrays resized."""
    value = row[image_key]
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":  # a 0-d array of bytes
        value = value.item()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return images.decode(io.BytesIO(bytes(value)), size, color_mode)
    return images.fit(np.asarray(value), size, color_mode)


# --- Reading an Opened set (no TFDS needed) ---


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What `load_named` reads: the splits by role, the features, the mode to decode in."""

    splits: dict[str, str]  # 'train' / 'test' / 'val' -> TFDS split
    image_key: str
    label_key: str
    class_names: tuple[str, ...]
    color_mode: str


def _base_splits(split: str) -> list[str]:
    """The split names a TFDS split expression reads: 'train[:90%]+test' -> train, test."""
    return [part.split("[")[0].strip() for part in split.split("+")]


def _check_split(opened: Opened, field: str, split: str) -> str:
    if not split.strip():
        raise DataError(f"dataset.{field}: empty; {opened.name}'s splits: {_names(opened)}")
    for base in _base_splits(split):
        if base not in opened.splits:
            raise DataError(
                f"dataset.{field}={split!r}: {opened.name} has no split {base!r}; its splits: "
                f"{_names(opened)}"
            )
    return split


def _names(opened: Opened) -> str:
    return ", ".join(opened.splits) or "none"


def _labelled(opened: Opened, split: str, label_key: str) -> bool:
    """Whether a split has labels: its first row's is >= 0 (ImageNet's test split is -1)."""
    rows = opened.rows(split)
    return len(rows) > 0 and int(np.asarray(rows[0][label_key])) >= 0


def plan(opened: Opened, options: TfdsOptions) -> _Plan:
    """The splits, features and decoding mode `load_named` reads, or a DataError naming the
    dataset.tfds_* field that asks for what the dataset lacks."""
    if not opened.images:
        raise DataError(f"dataset.tfds_name={options.name!r}: {opened.name} has no image feature")
    image_key = "image" if "image" in opened.images else sorted(opened.images)[0]
    if len(opened.images) > 1 and "image" not in opened.images:
        raise DataError(
            f"dataset.tfds_name={options.name!r}: {opened.name} has several image features "
            f"({', '.join(sorted(opened.images))}) and none is named 'image'"
        )
    key = options.label_key
    if key not in opened.labels:
        raise DataError(
            f"dataset.tfds_label_key={key!r}: {opened.name} has no feature {key!r}; its "
            f"features: {', '.join(sorted(opened.labels)) or 'none but images'}"
        )
    if opened.labels[key] is None:
        classes = [k for k, names in opened.labels.items() if names is not None]
        raise DataError(
            f"dataset.tfds_label_key={key!r}: {opened.name}'s feature {key!r} is not a class "
            f"label (tfds.features.ClassLabel); its class labels: {', '.join(classes) or 'none'}"
        )
    splits = {"train": _check_split(opened, "tfds_train_split", options.train_split)}
    if options.test_split:
        splits["test"] = _check_split(opened, "tfds_test_split", options.test_split)
    elif "test" in opened.splits and _labelled(opened, "test", key):
        splits["test"] = "test"
    elif "validation" in opened.splits:
        splits["test"] = "validation"
    else:
        raise DataError(
            f"dataset.tfds_test_split: {opened.name} has no labelled 'test' and no "
            f"'validation' split; name the split to test on (its splits: {_names(opened)})"
        )
    if options.val_split:
        splits["val"] = _check_split(opened, "tfds_val_split", options.val_split)
        if splits["val"] == splits["test"]:
            raise DataError(
                f"dataset.tfds_val_split={options.val_split!r} is also the test split: set "
                "dataset.tfds_test_split to another split, or dataset.tfds_val_split='' (and "
                "dataset.val_size to hold examples out of train)"
            )
    mode = options.color_mode
    if mode == "auto":
        mode = "grayscale" if opened.images[image_key] == 1 else "rgb"
    return _Plan(splits, image_key, key, opened.labels[key], mode)


def _cache_path(opened: Opened, p: _Plan, options: TfdsOptions, split: str, n: int, kind: str):
    """Where the cache of a split lies ('images': decoded; 'checked': labels and sums), keyed
    by the dataset's full name and version, its folder and files, the split and its row count,
    and the decoding options; None when off."""
    if options.cache_dir == "off":
        return None
    key = hashlib.sha256(
        f"{folder.CACHE_VERSION}.{CACHE_VERSION}\0{opened.name}\0{opened.data_dir}"
        f"\0{opened.fingerprint}\0{split}\0{n}\0{p.image_key}\0{p.label_key}"
        f"\0{options.image_size}\0{p.color_mode}".encode()
    ).hexdigest()[:32]
    suffix = "" if kind == "images" else f"-{kind}"
    return os.path.join(options.cache_dir or default_cache_dir(), f"tfds-{key}{suffix}.npz")


def default_cache_dir() -> str:
    """Next to the image folders' caches: <folder.default_cache_dir()>/../tfds."""
    return os.path.join(os.path.dirname(folder.default_cache_dir()), "tfds")


def _read_split(opened: Opened, p: _Plan, options: TfdsOptions, split: str) -> Split:
    """One split: every row decoded once (in threads), kept (an in-memory copy) or reduced to
    its pixel sums (lazy: TfdsImages), with its labels; from the cache when it has them."""
    rows, where = opened.rows(split), f"tfds:{opened.name} {split}"
    n, size, mode = len(rows), options.image_size, p.color_mode
    labels = np.zeros(n, np.int64)

    def read(i):
        row = rows[i]
        labels[i] = int(np.asarray(row[p.label_key]))
        return decode_row(row, p.image_key, size, mode)

    def failure(failed: dict) -> DataError:
        shown = "; ".join(f"row {i}: {failed[i]}" for i in sorted(failed)[:5])
        return DataError(f"{where}: {len(failed)} image(s) cannot be decoded ({shown})")

    def check():
        sums, squares, failed = lazy_images.check_rows(read, n, mode)
        if failed:
            raise failure(failed)
        return {"sums": sums, "squares": squares, "labels": labels.astype(np.int32)}

    def decoded():
        out, failed = lazy_images.decode_rows(read, n, size, mode)
        if failed:
            raise failure(failed)
        return {"images": out, "labels": labels.astype(np.int32)}

    kind = "checked" if options.lazy else "images"
    what = f"{where}: " + ("checked rows" if options.lazy else "decoded images")
    z = folder._cached_or(
        _cache_path(opened, p, options, split, n, kind), check if options.lazy else decoded, what
    )
    if not options.lazy:
        return Split(z["images"], z["labels"])
    pixels = TfdsImages(rows, where, p.image_key, np.arange(n), size, mode, z["sums"], z["squares"])
    return Split(pixels, z["labels"])


def load_named(options: TfdsOptions, opener: Callable[[TfdsOptions], Opened] | None = None):
    """The TFDS set options.name as a Dataset ('tfds'): train, test (and val with
    options.val_split) from its splits, every image options.image_size square, class names from
    its label feature; `lazy`: TfdsImages, else NumPy arrays. `opener` replaces `open_dataset`
    (tests). Raises DataError naming the field or the dataset (see open_dataset and plan)."""
    if options.color_mode not in images.COLOR_MODES:
        raise DataError(
            f"color_mode must be one of {', '.join(images.COLOR_MODES)}, got {options.color_mode!r}"
        )
    opened = (opener or open_dataset)(options)
    p = plan(opened, options)
    splits = {role: _read_split(opened, p, options, split) for role, split in p.splits.items()}
    if not len(splits["train"]):
        raise DataError(f"tfds:{opened.name}: the training split {p.splits['train']!r} is empty")
    return Dataset(
        name="tfds",
        train=splits["train"],
        test=splits["test"],
        class_names=p.class_names,
        source=f"tfds:{opened.name}",
        val=splits.get("val"),
    )


def decoded_nbytes(options: TfdsOptions, opener: Callable[[TfdsOptions], Opened] | None = None):
    """The bytes the decoded splits of the set take (what chooses the pipeline,
    dataset.pipeline=auto), from their row counts: nothing is decoded."""
    opened = (opener or open_dataset)(options)
    p = plan(opened, options)
    rows = sum(len(opened.rows(split)) for split in p.splits.values())
    return rows * options.image_size**2 * images.channels(p.color_mode)


