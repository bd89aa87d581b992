"""A run's data on its devices: the splits (validation held out, training subsets drawn, pixels
permuted), the data-parallel mesh, and the arrays placed on it with what the reports need.

    run_data = data_setup.place(config, task.splits(config), seeds, data_setup.mesh(config))

A run that streams (dataset.pipeline; cnnjax.train.stream) keeps its splits on the host and
reads each batch when a step needs it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import config as config_lib
from cnnjax import data, pipeline
from cnnjax.train import stream


@dataclasses.dataclass
class RunData:
    """The splits of a run, on the device, and what the report needs to know about them."""

    # (N, H, W, C) uint8, training split (the pool, with subset_per_seed): on the device, or
    # streamed: on the host (a NumPy array or cnnjax.data.lazy_images.LazyImages)
    images: Any
    labels: Any  # (N,) or (N, H, W) int32, where the images are
    # dataset.subset_per_seed: each replica's training subset, indices into images, (n,) for
    # one replica or (K, n); None when every replica trains on all N
    subsets: Any
    # padded evaluation batches (images, labels, mask) on the device, or streamed: a Stream
    val: tuple | stream.Stream | None
    test: tuple | stream.Stream
    normalizer: pipeline.Normalizer
    num_classes: int
    info: dict[str, Any]
    train: stream.Stream | None = None  # streamed: the training split's Stream

    @property
    def streamed(self) -> bool:
        return self.train is not None

    @property
    def class_names(self) -> list[str]:
        return self.info["class_names"]


def mesh(config: ml_collections.ConfigDict) -> Mesh | None:
    """A one-axis 'data' mesh over `config.num_devices` devices (0: all), or None for one."""
    devices = jax.devices()
    n = config.num_devices or len(devices)
    if n > len(devices):
        raise config_lib.ConfigError(
            f"num_devices={config.num_devices} but JAX sees {len(devices)} device(s): {devices}"
        )
    if jax.process_count() > 1 and n != len(devices):
        raise config_lib.ConfigError(
            f"num_devices={config.num_devices} in a run of {jax.process_count()} processes: a "
            f"multi-process run splits each batch over the devices of all processes; set "
            f"--config.num_devices=0 (all {len(devices)}) or {len(devices)}"
        )
    if n == 1:
        return None
    for field in ("batch_size", "eval_batch_size"):
        if config[field] % n:
            raise config_lib.ConfigError(
                f"{field}={config[field]} must be divisible by the {n} data-parallel devices"
            )
    return Mesh(np.array(devices[:n]), ("data",))


def put(x, mesh: Mesh | None) -> jax.Array:
    """x on the device, or replicated on every device of `mesh` (each process passing the
    same full array)."""
    if mesh is None:
        return jax.device_put(x)
    sharding = NamedSharding(mesh, PartitionSpec())
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    return jax.make_array_from_process_local_data(sharding, np.asarray(x))


def data_splits(config: ml_collections.ConfigDict, streams: bool = False):
    """(dataset, train, val, test) of a run: the held-out validation split, the training
    subset (drawn with dataset.split_seed; with dataset.subset_per_seed, `train` is the pool
    that `seed_subset` draws each seed's subset from), and every split's pixels permuted when
    the config asks for it. streams: the task may stream (Task.streams); an image folder or a
    TFDS set the run streams (`streams_folder`, `streams_tfds`) then stays in its files
    (cnnjax.data.lazy_images, cnnjax.data.tfds.TfdsImages)."""
    options, from_tfds = folder_options(config), tfds_options(config)
    if streams and streams_folder(config, options):
        options = dataclasses.replace(options, lazy=True)
    if streams and streams_tfds(config, from_tfds):
        from_tfds = dataclasses.replace(from_tfds, lazy=True)
    ds = data.load(
        config.dataset.name,
        config.dataset.data_dir or None,
        # a config.json saved before the field existed lacks it
        exact_counts=config.dataset.get("exact_counts", True),
        folder_options=options,
        tfds_options=from_tfds,
    )
    if config.dataset.classes:
        ds = _select_classes(ds, tuple(config.dataset.classes))
    train, val = _validation(config, ds)
    if not config.dataset.get("subset_per_seed", False):  # absent from older config.json files
        train = pipeline.subsample(train, config.dataset.train_size, config.dataset.split_seed)
        if config.dataset.train_per_class:
            train = pipeline.per_class(
                train, config.dataset.train_per_class, config.dataset.split_seed
            )
    test = ds.test
    if config.dataset.permute_pixels:
        order = pipeline.pixel_permutation(*train.images.shape[1:3], config.dataset.split_seed)
        train, val, test = (pipeline.permute_pixels(x, order) for x in (train, val, test))
    return ds, train, val, test


def folder_options(config: ml_collections.ConfigDict) -> data.FolderOptions:
    """How the config reads an image folder (dataset.name='folder'); the defaults for a
    config.json saved before these fields existed."""
    d, default = config.dataset, data.FolderOptions()
    return data.FolderOptions(
        image_size=d.get("image_size", default.image_size),
        color_mode=d.get("color_mode", default.color_mode),
        skip_bad_images=d.get("skip_bad_images", default.skip_bad_images),
        test_fraction=d.get("folder_test_fraction", default.test_fraction),
        split_seed=d.split_seed,
        cache_dir=d.get("cache_dir", default.cache_dir),
    )


def tfds_options(config: ml_collections.ConfigDict):
    """How the config reads a TFDS set by name (dataset.name='tfds'; cnnjax.data.tfds), None
    for another dataset."""
    d = config.dataset
    if d.name != "tfds":
        return None
    return data.tfds.TfdsOptions(
        name=d.tfds_name,
        data_dir=d.tfds_data_dir,
        download=d.tfds_download,
        train_split=d.tfds_train_split,
        test_split=d.tfds_test_split,
        val_split=d.tfds_val_split,
        label_key=d.tfds_label_key,
        image_size=d.image_size,
        color_mode=d.color_mode,
        cache_dir=d.cache_dir,
    )


def pipeline_choice(config: ml_collections.ConfigDict, nbytes: int) -> str:
    """'memory' or 'stream': dataset.pipeline, where 'auto' streams when the decoded images
    (`nbytes`) exceed dataset.memory_budget_mb (a config.json saved before the field existed:
    memory)."""
    choice = config.dataset.get("pipeline", "memory")
    if choice != "auto":
        return choice
    if config.dataset.permute_pixels:
        return "memory"
    return "stream" if nbytes > config.dataset.memory_budget_mb * 2**20 else "memory"


def streams_folder(config: ml_collections.ConfigDict, options: data.FolderOptions) -> bool:
    """Whether a run of a streaming task leaves its image folder in its files: by
    `pipeline_choice` of the folder's decoded size (read from its listing)."""
    if config.dataset.name != "folder":
        return False
    return _reads_lazily(
        config, lambda: data.folder.decoded_nbytes(config.dataset.data_dir, options)
    )


def streams_tfds(config: ml_collections.ConfigDict, options) -> bool:
    """Whether a run of a streaming task reads its TFDS set by index as it trains (else the set
    is decoded into memory): by `pipeline_choice` of the decoded splits' size (their row
    counts)."""
    return options is not None and _reads_lazily(
        config, lambda: data.tfds.decoded_nbytes(options)
    )


def _reads_lazily(config: ml_collections.ConfigDict, nbytes) -> bool:
    """Whether a source whose decoded size is nbytes() stays where it is: dataset.pipeline
    'stream', or 'auto' when `pipeline_choice` streams that size (nbytes() is asked only
    then: it may open the source)."""
    choice = config.dataset.get("pipeline", "memory")
    if choice != "auto":
        return choice == "stream"
    return pipeline_choice(config, nbytes()) == "stream"


def _validation(config: ml_collections.ConfigDict, ds: data.Dataset):
    """(train, val): the dataset's own validation split (an image folder's val/), or
    dataset.val_size examples held out of train (stratified by class with
    dataset.stratified_val)."""
    size, seed = config.dataset.val_size, config.dataset.split_seed
    if ds.val is not None:
        if size:
            raise config_lib.ConfigError(
                f"dataset.val_size={size}: {ds.source} has its own val/ split; set "
                "dataset.val_size=0 to use it (or move val/ away to hold out from train/)"
            )
        return ds.train, ds.val
    if config.dataset.get("stratified_val", False) and size:
        return data.stratified_split(
            ds.train, size, seed, ds.class_names, what="dataset.val_size (stratified_val)"
        )
    return pipeline.holdout(ds.train, size, seed)


def seed_subset(config: ml_collections.ConfigDict, pool: data.Split, seed: int) -> np.ndarray:
    """With dataset.subset_per_seed: the indices into the pool (data_splits' `train`) of the
    training subset of `seed`, drawn from (dataset.split_seed, seed) as dataset.train_size or
    dataset.train_per_class say, so that seeds vary the data as well as the initialisation."""
    draw = (config.dataset.split_seed, seed)
    if config.dataset.train_per_class:
        return pipeline.per_class_indices(pool.labels, config.dataset.train_per_class, draw)
    return pipeline.subsample_indices(len(pool.labels), config.dataset.train_size, draw)


def _select_classes(ds: data.Dataset, classes: tuple[int, ...]) -> data.Dataset:
    if max(classes) >= ds.num_classes:
        raise config_lib.ConfigError(
            f"dataset.classes={classes}: {ds.name} has classes 0..{ds.num_classes - 1}"
        )
    return dataclasses.replace(
        ds,
        train=pipeline.select_classes(ds.train, classes),
        test=pipeline.select_classes(ds.test, classes),
        val=None if ds.val is None else pipeline.select_classes(ds.val, classes),
        class_names=tuple(ds.class_names[c] for c in classes),
    )


def place(
    config: ml_collections.ConfigDict, splits, seeds, mesh: Mesh | None = None, streams=False
) -> RunData:
    """A task's splits (cnnjax.tasks.Splits) on the device, or, when the run streams (the task
    `streams` and `pipeline_choice` says so, or the images stayed in their files), as
    cnnjax.train.stream Streams; with dataset.subset_per_seed, the pool and each seed's subset
    of it (the normalisation statistics are then the pool's, shared by the seeds)."""
    train, val, test = splits.train, splits.val, splits.test
    nbytes = sum(s.images.nbytes for s in (train, val, test))
    lazy = any(not isinstance(s.images, np.ndarray) for s in (train, val, test))
    streamed = lazy or (streams and pipeline_choice(config, nbytes) == "stream")
    subsets = None
    if config.dataset.subset_per_seed:
        subsets = np.stack([seed_subset(config, train, s) for s in seeds])
        subsets = subsets[0] if len(seeds) == 1 else subsets
    num_train = len(train) if subsets is None else subsets.shape[-1]
    if num_train < config.batch_size:
        raise config_lib.ConfigError(
            f"batch_size={config.batch_size} exceeds the {num_train} training examples of "
            f"{splits.info['dataset']} after holding out dataset.val_size="
            f"{config.dataset.val_size}"
        )
    normalizer = pipeline.Normalizer.fit(train.images, config.dataset.normalize)
    batches = lambda split: tuple(
        put(a, mesh) for a in pipeline.padded_batches(split, config.eval_batch_size)
    )
    train_stream = None
    if streamed:
        batches = lambda split: _stream(config, split, mesh, replicas=1)
        train_stream = _stream(config, train, mesh, replicas=len(seeds))
    info = {
        **splits.info,
        "image_shape": list(train.images.shape[1:]),
        "num_classes": splits.num_classes,
        "class_names": list(splits.class_names),
        "num_train": num_train,
        "subset_per_seed": bool(config.dataset.subset_per_seed),
        "num_val": len(val),
        "num_test": len(test),
        "pipeline": "stream" if streamed else "memory",
        "decoded_mb": round(nbytes / 2**20, 3),
        "permute_pixels": config.dataset.permute_pixels,
        "normalize": config.dataset.normalize,
        "channel_mean": list(normalizer.mean),
        "channel_std": list(normalizer.std),
    }
    # streamed: the training rows stay on the host
    on_device = (lambda a: a) if streamed else (lambda a: put(a, mesh))
    return RunData(
        on_device(train.images),
        on_device(train.labels),
        None if subsets is None else on_device(subsets),
        batches(val) if len(val) else None,
        batches(test),
        normalizer,
        splits.num_classes,
        info,
        train_stream,
    )


def _stream(config: ml_collections.ConfigDict, split, mesh: Mesh | None, replicas: int):
    """A split's Stream: this process's shard of each batch, split over `mesh`'s devices
    (with replicas K > 1 a training batch is (K, B, ...), split along B)."""
    sharding = None
    if mesh is not None:
        sharding = NamedSharding(mesh, PartitionSpec(*([None] * (replicas > 1)), "data"))
    return stream.Stream(
        split.images,
        split.labels,
        threads=config.dataset.stream_threads,
        prefetch=config.dataset.stream_prefetch,
        sharding=sharding,
        process=jax.process_index(),
        processes=jax.process_count(),
    )
