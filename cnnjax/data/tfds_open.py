"""Opening TensorFlow Datasets: the only module that imports tensorflow_datasets.

`open_dataset` opens a prepared TFDS set by name for random access (`tfds.data_source`, over a
copy in the array_record format) and describes it as an `Opened`, which cnnjax.data.tfds reads
(and tests build from lists of dicts); `load_tfds` is the registry's in-memory fallback for a
few named sets (`tfds.load(batch_size=-1)`, as stored, in any file format).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Callable, Sequence

import numpy as np

from cnnjax.data.dataset import Dataset, Split
from cnnjax.data.errors import DataError, DataNotFoundError

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
