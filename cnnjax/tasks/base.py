"""What a task is: everything about a workload that the one training loop does not own.

The loop (cnnjax.train) owns the run: data on the devices, the permutation of each epoch,
replicas, devices, checkpoints, resume, signals, reports. A `Task` owns what differs between
workloads:

- its data: `splits(config)` -> the train/val/test `data.Split`s (uint8 images (N, H, W, C)
  and int32 labels, per image (N,) or per pixel (N, H, W)), what the reports say of them and
  any `tables` its batch functions look labels up in (float targets);
- its model: `num_outputs` (the model's num_classes argument), `model_overrides` (fields the
  task fixes, e.g. ESPCN's scale) and `input_shape` (what the model reads);
- its `BatchFns`: pure functions traced into the compiled step, so every batch is prepared
  on the device (augmentation, normalisation, low-resolution inputs):
    train_batch(key, images, labels) -> (inputs, targets)
    eval_batch(images, labels) -> (inputs, targets)
    loss(outputs, targets) -> (per-target losses (any shape), {name: additive sum})
    eval_sums(outputs, targets, mask) -> {name: additive sum}; 'loss_sum' and 'count' always
    figures(total sums) -> {figure: value}; 'loss' and 'count' always
  and, for a task whose state is not one TrainState (the GAN's), the step and the
  evaluation's forward pass in place of cnnjax.train.steps' (`step`, `predict`);
  Every metric is a sum over targets, so batches, epochs, masks, replicas and devices add
  them exactly; `figures` turns the totals into means, ratios, IoU;
- its `figures` (what evaluation reports: val_<f> per epoch, test_<f> in the summary),
  `train_figures` (train_<f> per epoch, from the `loss` sums), `primary` (best_val_<primary>
  in the summary, and the default that early stopping and plateau watch: val_<primary>) and
  which of them are better higher;
- its state: `init_state` (a TrainState by default, any pytree answering what the loop asks
  of one: step, rng, plateau, ema, params, batch_stats, for_evaluation);
- its config fields: config.<task name>, defaults `fields()`, checked by `validate`.

Adding a task is one file: a subclass registered in cnnjax.tasks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, models, pipeline
from cnnjax.train import data_setup
from cnnjax.train.state import create_train_state


@dataclasses.dataclass(frozen=True)
class BatchFns:
    """A task's functions traced into the compiled steps (see the module docstring)."""

    train_batch: Callable[[jax.Array, jax.Array, jax.Array], tuple[Any, Any]]
    eval_batch: Callable[[jax.Array, jax.Array], tuple[Any, Any]]
    loss: Callable[[jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]]
    eval_sums: Callable[[jax.Array, Any, jax.Array], dict[str, jax.Array]]
    figures: Callable[[dict[str, jax.Array]], dict[str, jax.Array]]
    train_sums: tuple[str, ...] = ()  # the names of `loss`'s sums (scalars, float32)
    # step(state, inputs, targets) -> (state, metrics as cnnjax.train.steps.train_step's);
    # None: that train_step with `loss`
    step: Callable[[Any, Any, Any], tuple[Any, dict[str, jax.Array]]] | None = None
    # predict(state, inputs) -> the outputs eval_sums reads; None: the model's outputs
    predict: Callable[[Any, Any], Any] | None = None


@dataclasses.dataclass(frozen=True)
class Splits:
    """A task's data on the host: its splits and what the reports say of them."""

    train: data.Split
    val: data.Split
    test: data.Split
    num_classes: int  # classes of the labels (0 for a task whose labels are not classes)
    class_names: tuple[str, ...]
    info: dict[str, Any]  # dataset, source, ... (summary.json)
    # Arrays the batch functions index by label (a regression task's float targets, the
    # label being the example's index): name -> (M, ...) NumPy array.
    tables: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


class Task:
    """The base of every task; the defaults are those of an image-classification-like task."""

    name = ""
    output_kind = "logits"  # the models.output_kind this task trains
    figures: tuple[str, ...] = ("loss",)
    train_figures: tuple[str, ...] = ("loss",)
    primary = "loss"
    higher_is_better: dict[str, bool] = {"loss": False}
    # Fields of the base config the task cannot use: field -> why (validate names the field
    # when it is not its default).
    unsupported: dict[str, str] = {}
    # The dataset.normalize the task's batch functions assume, and why (None: any).
    normalize: tuple[str, str] | None = None
    # Whether the task's splits may stream from the host (dataset.pipeline; cnnjax.train.stream):
    # their images are the dataset's own rows, not arrays the task builds in memory.
    streams = False

    def fields(self) -> ml_collections.ConfigDict | None:
        """The defaults of config.<name>, the task's own fields (None: it has none)."""
        return None

    def checks(self) -> list[tuple[str, Callable[[Any], bool], str]]:
        """(path under config.<name>, check, what it must be) of the task's own fields."""
        return []

    def validate(self, config: ml_collections.ConfigDict) -> None:
        """Raises config_lib.ConfigError naming the first bad field the task sees."""
        if models.output_kind(config.model) != self.output_kind:
            fitting = [
                t.name for t in _registered() if t.output_kind == models.output_kind(config.model)
            ]
            raise config_lib.ConfigError(
                f"model: {config.model!r} outputs {models.output_kind(config.model)}, but task "
                f"{self.name!r} trains models of output {self.output_kind}"
                + (f" (set task to one of: {', '.join(fitting)})" if fitting else "")
            )
        defaults = config_lib.base_config()
        plain = lambda v: v.to_dict() if isinstance(v, ml_collections.ConfigDict) else v
        for path, why in self.unsupported.items():
            value, default = (plain(config_lib.get_field(c, path)) for c in (config, defaults))
            if value != default:
                raise config_lib.ConfigError(f"{path}: task {self.name!r} {why}")
        if self.normalize and config.dataset.normalize != self.normalize[0]:
            mode, why = self.normalize
            raise config_lib.ConfigError(
                f"dataset.normalize={config.dataset.normalize!r}: task {self.name!r} {why}; set "
                f"dataset.normalize={mode!r}"
            )
        if config.dataset.get("pipeline", "memory") == "stream":
            if not self.streams:
                raise config_lib.ConfigError(
                    f"dataset.pipeline='stream': task {self.name!r} builds its data in memory; "
                    "set dataset.pipeline='memory' (or 'auto')"
                )
            if config.dataset.permute_pixels:
                raise config_lib.ConfigError(
                    "dataset.permute_pixels permutes the images in memory: set "
                    "dataset.pipeline='memory' (or 'auto')"
                )
        own = self.fields()
        if own is not None:
            if self.name not in config:
                raise config_lib.ConfigError(
                    f"task={self.name!r} needs its fields config.{self.name} (start from "
                    f"experiments/configs/{self.name}.py, or tasks.get({self.name!r}).fields())"
                )
            for path, check, expected in self.checks():
                value = config_lib.get_field(config, f"{self.name}.{path}")
                if not check(value):
                    raise config_lib.ConfigError(
                        f"{self.name}.{path} must be {expected}, got {value!r} "
                        f"({type(value).__name__})"
                    )
        if (config.plateau.enabled or config.early_stopping.enabled) and not self.validates(
            config
        ):
            raise config_lib.ConfigError(
                f"{self.validation_field} must be > 0 when plateau or early_stopping is "
                "enabled (both watch a validation metric)"
            )
        for field in ("plateau", "early_stopping"):
            section = config[field]
            valid = self.val_metrics()
            if section.enabled and section.metric not in valid:
                raise config_lib.ConfigError(
                    f"{field}.metric: task {self.name!r} validates {', '.join(valid)}, not "
                    f"{section.metric!r}"
                )

    validation_field = "dataset.val_size"  # the config field that sizes the validation split

    def validates(self, config: ml_collections.ConfigDict) -> bool:
        """Whether the run has a validation split (what plateau and early stopping watch)."""
        return config_lib.get_field(config, self.validation_field) > 0

    def val_metrics(self) -> tuple[str, ...]:
        """The names early stopping and reduce-on-plateau may watch."""
        return tuple(f"val_{f}" for f in self.figures)

    def higher(self, metric: str) -> bool:
        """Whether a higher value of `metric` ('val_<figure>') is better."""
        return self.higher_is_better[metric.removeprefix("val_")]

    def splits(self, config: ml_collections.ConfigDict) -> Splits:
        """The run's splits (cnnjax.train.data_setup.data_splits of config.dataset)."""
        ds, train, val, test = data_setup.data_splits(config, self.streams)
        return Splits(train, val, test, ds.num_classes, ds.class_names, dataset_info(ds))

    def num_outputs(self, config: ml_collections.ConfigDict, splits: Splits) -> int:
        """The model's num_classes argument."""
        return splits.num_classes

    def model_overrides(self, config: ml_collections.ConfigDict) -> dict[str, Any]:
        """The model's constructor fields: config.model_args[model], then those the task fixes."""
        return config_lib.model_overrides(config)

    def input_shape(self, config: ml_collections.ConfigDict, image_shape) -> tuple[int, ...]:
        """The shape (1, ...) of one model input for images of `image_shape` (H, W, C)."""
        return (1, *image_shape)

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        raise NotImplementedError

    def init_state(self, config, model, tx, plateau_tx, rng, input_shape, ema: bool):
        """A replica's fresh state (traced: jit and vmap map it over seeds):
        cnnjax.train.state.create_train_state of `model` on inputs of `input_shape` (keeping
        lookahead's slow weights when config.lookahead is on)."""
        lookahead = config_lib.lookahead_every(config) > 0
        return create_train_state(model, tx, plateau_tx, rng, input_shape, ema, lookahead)

    def figure_values(
        self, config: ml_collections.ConfigDict, values: dict[str, float]
    ) -> dict[str, float | None]:
        """The figures a run reports from an evaluation's `values` (None: not defined for
        this config)."""
        return {name: values[name] for name in self.figures}

    def train_record(self, totals: dict[str, float]) -> dict[str, float]:
        """The figures train_<f> of an epoch from the host values of its training sums."""
        return {"loss": totals["loss_sum"] / totals["count"]}


# `unsupported` entries of every task whose labels are not classes.
WITHOUT_CLASSES = {
    "layer_stats.enabled": "probes class labels",
    "loss.label_smoothing": "has no labels to smooth",
}


def mse_loss(outputs: jax.Array, targets: jax.Array):
    """The loss of an image-out task: (the per-example mean squared error over every axis but
    the batch's (B,), no further sums)."""
    return jnp.mean(jnp.square(outputs - targets), axis=tuple(range(1, outputs.ndim))), {}


def baseline_figures(
    split: data.Split,
    batch_size: int,
    sums: Callable[[jax.Array, jax.Array, jax.Array], dict[str, jax.Array]],
    figures: Callable[[dict[str, jax.Array]], dict[str, jax.Array]],
) -> dict[str, float]:
    """The figures of a prediction made without a network (a sweep's baseline) on `split`:
    sums(images, labels, mask) of each padded evaluation batch, compiled once, added up and
    turned into figures by the task's `figures` (its 'count' left out)."""
    images, labels, mask = pipeline.padded_batches(split, batch_size)
    batch_sums = jax.jit(sums)
    totals = [batch_sums(x, y, m) for x, y, m in zip(images, labels, mask)]
    total = jax.tree.map(lambda *v: sum(v), *totals)
    return {k: float(v) for k, v in figures(total).items() if k != "count"}


SPLIT_STRIDE = 1 << 24  # identities of one split: split * SPLIT_STRIDE + index


def identities(split: int, n: int, task: str) -> np.ndarray:
    """Labels (n,) int32 naming n examples of a split by identity, split * SPLIT_STRIDE +
    index (split 0 train, 1 validation, 2 test): what a task derives an example's random
    draws from (a flow pair's flow, a GAN sample's noise), whatever batch it falls in."""
    if n > SPLIT_STRIDE:
        raise config_lib.ConfigError(f"{task}: {n} examples in one split; at most {SPLIT_STRIDE}")
    return (split * SPLIT_STRIDE + np.arange(n)).astype(np.int32)


def first_test_images(config: ml_collections.ConfigDict, ds_name: str, test: data.Split, task: str):
    """The first config.<task>.test_size images of `test` (0: all); ConfigError naming the field
    when the split has fewer."""
    size = config[task].test_size
    if size > len(test):
        raise config_lib.ConfigError(
            f"{task}.test_size={size}: {ds_name} has only {len(test)} test images"
        )
    return data.Split(test.images[: size or None], test.labels[: size or None])


def dataset_info(ds: data.Dataset) -> dict[str, Any]:
    """What the summary records of a loaded dataset."""
    info = {"dataset": ds.name, "source": ds.source}
    if ds.name == "folder":
        info["skipped_files"] = len(ds.skipped)
        info["skipped"] = [{"path": p, "reason": why} for p, why in ds.skipped]
    return info


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Adds `task` to the registry under task.name (cnnjax.tasks.get)."""
    _REGISTRY[task.name] = task
    return task


def _registered() -> list[Task]:
    return list(_REGISTRY.values())
