"""A finished (or checkpointed) run read back: its model and variables, for evaluation,
visualisation, transfer learning and probes.

    trained = trained.load_trained("runs/mnist")  # -> Trained
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import models, optim, pipeline, report, tasks
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.errors import WorkdirError
from cnnjax.train.state import run_optimizer


def source_variables(source_dir: str, k: int):
    """(config, summary, variables) of the finished run in `source_dir`, the variables for k
    replicas: with a leading axis of k when k > 1, replica r being the source's replica r mod
    its number of seeds."""
    source_config = ml_collections.ConfigDict(
        report.read_json(os.path.join(source_dir, "config.json"))
    )
    summary = report.read_json(os.path.join(source_dir, "summary.json"))
    variables = restore_variables(
        source_dir, source_config, summary["num_classes"], summary["image_shape"]
    )
    k_src = source_config.num_seeds
    if k == 1:
        pick = (lambda a: a) if k_src == 1 else (lambda a: a[0])
    elif k_src == 1:
        pick = lambda a: jnp.broadcast_to(a, (k,) + a.shape)
    else:
        pick = lambda a: a[jnp.arange(k) % k_src]
    return source_config, summary, jax.tree.map(pick, variables)


@dataclasses.dataclass
class Trained:
    """A run's model and variables from its latest checkpoint, with what is needed to feed it."""

    config: ml_collections.ConfigDict
    model: Any  # the linen Module
    variables: dict[str, Any]  # {'params', 'batch_stats'?} of one replica
    normalizer: pipeline.Normalizer
    test_images: np.ndarray  # (N, H, W, C) uint8, pixels permuted if the run permuted them
    test_labels: np.ndarray  # (N,) int, or (N, H, W) per pixel
    class_names: tuple[str, ...]
    # (uint8 images, labels) -> (model inputs, targets): the run's evaluation batches
    eval_batch: Any


def restore_variables(
    workdir: str,
    config: ml_collections.ConfigDict,
    num_classes: int,
    image_shape,
    best: bool = False,
    replica: int | None = None,
) -> dict[str, Any]:
    """The variables ({'params', 'batch_stats'?}, with a leading replica axis for a multi-seed
    run) of the latest checkpoint in `workdir` of a run of `config` (its weights' average with
    config.ema.decay > 0, the variables it evaluated); with `best`, the best epoch's variables
    that checkpoint keeps for early stopping (early_stopping.enabled); with `replica`, that
    seed's variables alone."""
    if best and not config.early_stopping.enabled:
        raise WorkdirError(
            f"{workdir}: the run kept no best epoch (early_stopping.enabled is False); use its "
            "latest checkpoint"
        )
    task = tasks.of(config)
    model = models.create(config.model, num_classes, **task.model_overrides(config))
    shape = task.input_shape(config, tuple(image_shape))
    tx, _ = run_optimizer(config, model, shape, 1)  # the state's structure, not its schedule
    ema = config_lib.ema_decay(config) > 0
    plateau = optim.make_plateau(config)
    init = lambda seed: task.init_state(
        config, model, tx, plateau, jax.random.PRNGKey(seed), shape, ema
    )
    k = config.num_seeds
    template = jax.eval_shape(init if k == 1 else jax.vmap(init), jnp.arange(k) if k > 1 else 0)
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.keep)
    if checkpointer.latest_step() is None:  # (reading a run moves nothing aside)
        raise WorkdirError(
            f"no checkpoint in {workdir}/checkpoints: the run has not finished an epoch"
        )
    best_template = None
    if best:
        best_template = {"params": template.params, "batch_stats": template.batch_stats}
    state, best_variables, _ = checkpointer.restore(template, best_template)
    checkpointer.close()
    if best:
        variables = {k: v for k, v in best_variables.items() if k != "batch_stats" or v}
    else:
        variables = state.for_evaluation().variables()  # the average when the run kept one
    if replica is not None and k > 1:
        variables = jax.tree.map(lambda a: a[replica], variables)
    return variables


def run_config(workdir: str) -> ml_collections.ConfigDict:
    """The config of the run in `workdir`, from its config.json; WorkdirError if it has none."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise WorkdirError(f"{path} not found: {workdir} is not a cnnjax run folder")
    return ml_collections.ConfigDict(report.read_json(path))


def load_trained(workdir: str, data_dir: str | None = None, replica: int = 0) -> Trained:
    """The latest checkpoint of the run in `workdir` (replica `replica` of a multi-seed run),
    rebuilt from its config.json; the data come from `data_dir` or the config's own folder."""
    config = run_config(workdir)
    if data_dir:
        config.dataset.data_dir = data_dir
    task = tasks.of(config)
    splits = task.splits(config)
    normalizer = pipeline.Normalizer.fit(splits.train.images, config.dataset.normalize)
    outputs = task.num_outputs(config, splits)
    model = models.create(config.model, outputs, **task.model_overrides(config))
    variables = restore_variables(
        workdir, config, outputs, splits.train.images.shape[1:], replica=replica
    )
    fns = task.batch_fns(config, normalizer, splits)
    return Trained(
        config,
        model,
        variables,
        normalizer,
        splits.test.images,
        splits.test.labels,
        splits.class_names,
        fns.eval_batch,
    )
