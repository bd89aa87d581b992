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
the decoding options. Opening TFDS (`open_dataset`) is the only part that imports
tensorflow_datasets: everything after it reads an `Opened`, which tests build from lists.

The fallback (`load_tfds`, called by the registry for 'mnist', 'cifar10', ... when no local
copy exists) loads a whole prepared set into memory with `tfds.load(batch_size=-1)`, as
stored (no resizing), in any file format; nothing is downloaded.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib.util
import io
import os
from typing import Callable, Sequence

import numpy as np

from cnnjax.data import folder, images, lazy_images
from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError, DataNotFoundError

CACHE_VERSION = 1  # bump when reading TFDS rows changes (folder.CACHE_VERSION: decoding)
INSTALL = "pip install -e '.[tfds]'"  # what installs tensorflow_datasets

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


@dataclasses.dataclass(frozen=True)
class TfdsOptions:
    """How to read a TFDS set by name; the config's dataset.tfds_* fields (and image_size,
    color_mode, cache_dir, which image folders read too)."""

    name: str  # TFDS's name[/config][:version], e.g. 'imagenette/320px-v2', 'cifar10'
    data_dir: str = ""  # '' -> TFDS's default ($TFDS_DATA_DIR, else ~/tensorflow_datasets)
    download: bool = False  # True: TFDS downloads and prepares (array_record) a missing copy
    train_split: str = "train"
    test_split: str = ""  # '' -> 'test' if the dataset has it (labelled), else 'validation'
    val_split: str = ""  # '' -> none (the run may hold dataset.val_size out of train)
    label_key: str = "label"  # the class-label feature
    image_size: int = 64  # pixels: shorter side resized to it, then the centre square
    color_mode: str = "auto"  # auto (the image feature's channels) | rgb | grayscale
    cache_dir: str = ""  # '' -> default_cache_dir(); 'off': no cache
    lazy: bool = False  # True: rows stay in TFDS's files (TfdsImages; the streaming pipeline)


@dataclasses.dataclass(frozen=True)
class Opened:
    """A TFDS set opened for random access: what `load_named` reads (tests build one from
    lists of dicts).

    Attributes:
      name: TFDS's full name with its version, e.g. 'cifar10/3.0.2' (what the cache keys).
      data_dir: the folder of the prepared copy.
      splits: the dataset's split names.
      images: its image features: name -> channels (None when not fixed).
      labels: its other features: name -> class names, or None when not a class label.
      rows: split (a name, or TFDS's split syntax, e.g. 'train[:90%]') -> its rows: a
        random-access sequence of dicts whose image features are encoded bytes or arrays.
      fingerprint: the copy's files with their sizes and modification times (a copy prepared
        again is checked again).
    """

    name: str
    data_dir: str
    splits: tuple[str, ...]
    images: dict[str, int | None]
    labels: dict[str, tuple[str, ...] | None]
    rows: Callable[[str], Sequence[dict]]
    fingerprint: str = ""


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


# --- Opening TFDS (the only part that imports tensorflow_datasets) ---


def _import_tfds():
    if not available():
        raise DataError(
            f"dataset.name='tfds' needs tensorflow_datasets, which is not installed: {INSTALL}"
        )
    import tensorflow_datasets  # Imported here: heavy, and optional.

    return tensorflow_datasets


def _build_command(options: TfdsOptions) -> str:
    where = f" --data_dir={options.data_dir}" if options.data_dir else ""
    return f"`tfds build {options.name} --file_format=array_record{where}`"


def open_dataset(options: TfdsOptions) -> Opened:
    """TFDS's prepared copy of options.name, opened for random access (`tfds.data_source`,
    images left encoded: `decode_row` decodes them). Raises DataError (DataNotFoundError for
    a copy that is not prepared) naming dataset.tfds_name and saying what to run."""
    tfds = _import_tfds()
    field = f"dataset.tfds_name={options.name!r}"
    data_dir = options.data_dir or None
    try:
        builder = tfds.builder(options.name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError, a bad config or version: TFDS's own words
        raise DataError(f"{field}: TFDS cannot open it ({type(e).__name__}: {_first(e)})") from e
    if not builder.is_prepared():
        if not options.download:
            raise DataNotFoundError(
                f"{field}: not prepared in {builder.data_dir}: prepare it with "
                f"{_build_command(options)} (building needs TensorFlow, e.g. `pip install "
                "tensorflow-cpu`, and the dataset's sources), or set dataset.tfds_download=True "
                "to let TFDS download and prepare it"
            )
        try:  # tfds.data_source prepares a missing copy (array_record: forced with a data_dir)
            tfds.data_source(
                options.name,
                split=options.train_split,
                data_dir=data_dir,
                builder_kwargs={"file_format": "array_record"},
            )
        except Exception as e:
            raise DataError(
                f"{field}: TFDS could not download and prepare it ({type(e).__name__}: {_first(e)})"
            ) from e
        builder = tfds.builder(options.name, data_dir=data_dir)
    info = builder.info
    random_access = tfds.core.file_adapters.FileFormat.with_random_access()
    if not info.available_file_formats() & random_access:
        stored = info.file_format.value if info.file_format else "an unknown"
        raise DataError(
            f"{field}: the copy in {builder.data_dir} is in the {stored} format, which TFDS "
            f"cannot read by index; prepare it again as array_record: "
            f"{_build_command(options)[:-1]} --overwrite` (or convert it: `tfds convert_format "
            f"--dataset_version_dir={builder.data_dir} --out_file_format=array_record`)"
        )
    features = info.features
    image_features = {
        k: f.shape[-1] for k, f in features.items() if isinstance(f, tfds.features.Image)
    }
    labels = {
        k: tuple(f.names) if isinstance(f, tfds.features.ClassLabel) else None
        for k, f in features.items()
        if k not in image_features
    }
    decoders = {k: tfds.decode.SkipDecoding() for k in image_features}

    def rows(split: str):
        try:
            return tfds.data_source(
                options.name, split=split, data_dir=data_dir, download=False, decoders=decoders
            )
        except Exception as e:  # a malformed split slice, unreadable files
            raise DataError(
                f"{field}: TFDS cannot read split {split!r} ({type(e).__name__}: {_first(e)})"
            ) from e

    copy_dir = str(builder.data_dir)
    return Opened(
        info.full_name, copy_dir, tuple(info.splits), image_features, labels, rows, _files(copy_dir)
    )


def _files(copy_dir: str) -> str:
    """The files of a local folder with their sizes and modification times ('' elsewhere)."""
    try:
        entries = sorted(os.scandir(copy_dir), key=lambda e: e.name)
        return ";".join(f"{e.name}:{e.stat().st_size}:{e.stat().st_mtime_ns}" for e in entries)
    except OSError:  # a remote folder (gs://...): its name and version key the cache
        return ""


def _first(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


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
        out = np.zeros((n, size, size, 1 if mode == "grayscale" else 3), np.uint8)
        failed = {}

        def one(i):
            try:
                out[i] = read(i)
            except images.BadImage as e:
                failed[i] = str(e)

        with concurrent.futures.ThreadPoolExecutor(lazy_images.threads()) as pool:
            list(pool.map(one, range(n)))
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
    channels = 1 if p.color_mode == "grayscale" else 3
    rows = sum(len(opened.rows(split)) for split in p.splits.values())
    return rows * options.image_size**2 * channels


# --- The registry's in-memory fallback ---


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
