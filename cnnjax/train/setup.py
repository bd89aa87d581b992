"""A run's fixed context: its data on the devices, its model and state (fresh, or transplanted
from another run), and its compiled step and evaluation (`setup`)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import traverse_util
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import config as config_lib
from cnnjax import interop, models, optim, pipeline, tasks, transfer
from cnnjax import layer_stats as layer_stats_lib
from cnnjax.train import data_setup, monitoring, steps, trained
from cnnjax.train import epoch as epoch_lib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.loop_state import zero_sums
from cnnjax.train.state import num_params, run_optimizer


@dataclasses.dataclass
class RunContext:
    """What stays fixed during a run: its config, data, compiled functions and outputs."""

    config: ml_collections.ConfigDict
    workdir: str
    task: tasks.Task  # what is trained (config.task)
    fns: tasks.BatchFns  # the task's functions inside the compiled step and evaluation
    data: data_setup.RunData
    seeds: tuple[int, ...]  # one per replica
    mesh: Mesh | None  # the data-parallel mesh, None on one device
    steps_per_epoch: int
    sync_every: int  # steps between host syncs (progress bar, signal checks)
    learning_rate: Any  # steps made -> the learning rate of the last update (before plateau)
    train_step: Any  # compiled epoch_lib.make_train_step (with scan_steps: its n-step form)
    evaluate: Any  # (state, data.val or data.test) -> figures (epoch_lib.make_evaluate)
    evaluate_flip: Any  # with test-time flips (and shifts: eval_translate_average); or None
    permutation: Any  # epoch -> the epoch's permutation (K, N) or (N,)
    plateau_update: Any  # (plateau state, value) -> plateau state
    compile_seconds: float
    checkpointer: Checkpointer
    layer_stats: Any  # state -> one layer_stats record per replica; None when off
    profiler: monitoring.Profiler  # jax.profiler traces of config.profile's steps
    transfer: dict[str, Any]  # init_from, frozen modules and their parameter count
    model_shape: dict[str, Any]  # num_outputs and input_shape (H, W, C): what builds the model

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    @property
    def num_replicas(self) -> int:
        return len(self.seeds)

    def replica_path(self, r: int, name: str) -> str:
        """Where replica r's report `name` goes: the workdir itself for a single seed."""
        if self.num_replicas == 1:
            return self.path(name)
        return os.path.join(self.workdir, f"seed_{self.seeds[r]}", name)

    @property
    def is_main_process(self) -> bool:
        return jax.process_index() == 0


def setup(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh | None):
    """Loads the data, builds the model and state, compiles the step (data-parallel over
    `mesh`, if any).

    Returns (RunContext, state)."""
    seeds = tuple(config.seed + r for r in range(config.num_seeds))
    task = tasks.of(config)
    splits = task.splits(config)
    d = data_setup.place(config, splits, seeds, mesh, task.streams)
    logging.info("task %s, data: %s", task.name, json.dumps(d.info))
    steps_per_epoch = d.info["num_train"] // config.batch_size
    k = len(seeds)
    num_outputs = task.num_outputs(config, splits)
    model = models.create(config.model, num_outputs, **task.model_overrides(config))
    input_shape = task.input_shape(config, tuple(d.images.shape[1:]))
    tx, frozen = run_optimizer(config, model, input_shape, steps_per_epoch)
    plateau_tx = optim.make_plateau(config)
    ema_decay = config_lib.ema_decay(config)
    init = lambda seed: task.init_state(
        config, model, tx, plateau_tx, jax.random.PRNGKey(seed), input_shape, ema_decay > 0
    )
    replicated = None if mesh is None else NamedSharding(mesh, PartitionSpec())
    batch_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("data"))
    if k == 1:
        state = jax.jit(init, out_shardings=replicated)(config.seed)
    else:
        state = jax.jit(jax.vmap(init), out_shardings=replicated)(jnp.asarray(seeds))
    state = _data_initialised(config, model, state, d, k, replicated)
    if frozen:
        state = state.replace(apply_fn=transfer.frozen_apply(model.apply, frozen))
    params_one = state.params if k == 1 else jax.tree.map(lambda p: p[0], state.params)
    logging.info("model %s: %d parameters", config.model, num_params(params_one))
    flat = traverse_util.flatten_dict(params_one)
    frozen_one = [v for key, v in flat.items() if key[:-1] in frozen]
    transfer_info = {
        "init_from": config.transfer.init_from or None,
        "init_from_torch": config.transfer.get("init_from_torch") or None,
        "frozen_modules": ["/".join(m) for m in frozen],
        "frozen_params": num_params(frozen_one),
    }

    fns = task.batch_fns(config, d.normalizer, splits)
    penalty = steps.Penalty(config.loss.l1, config.loss.l2, config.loss.penalize)
    n = d.info["num_train"]
    if k == 1:
        order = lambda e: pipeline.epoch_permutation(config.seed, e, n)
    else:
        perms = jax.vmap(pipeline.epoch_permutation, in_axes=(0, None, None))
        order = lambda e: perms(jnp.asarray(seeds), e, n)
    if d.subsets is None:
        perm_fn = jax.jit(order)
    else:  # the epoch's order of each seed's own subset, as indices into the pool
        perm_fn = jax.jit(lambda e: jnp.take_along_axis(jnp.asarray(d.subsets), order(e), -1))
    if d.streamed:  # the host reads the batches: each process computes the same order
        on_device_perm = perm_fn
        perm_fn = lambda e: np.asarray(on_device_perm(e))
    elif replicated is not None:
        perm_fn = jax.jit(perm_fn, out_shardings=replicated)
    t0 = time.perf_counter()
    dtype = jnp.dtype(config.compute_dtype)
    sync_every = (
        config.tensorboard.every_steps or config.steps_per_sync or max(1, -(-steps_per_epoch // 10))
    )
    scan = bool(config.get("scan_steps"))
    config_lib.check_in_memory(config, d.streamed)  # 'auto' may have chosen to stream
    train_step = epoch_lib.make_train_step(
        fns,
        penalty,
        config.batch_size,
        k,
        batch_sharding,
        dtype,
        ema_decay,
        d.streamed,
        _lookahead(config, steps_per_epoch),
        bool(config.dataset.augment.get("alternate_flip")),
        scan,
    )
    extra = () if k == 1 else (jnp.ones((k,), bool),)
    sums = zero_sums(k, replicated, fns.train_sums)
    batch = (d.images, d.labels, perm_fn(0), jnp.int32(0))
    if d.streamed:
        batch = _batch_shapes(config, d, k)
    if scan:  # compiled for the usual number of steps per call, others when first met
        train_step = _scanned(train_step, state, sums, (*batch, *extra), sync_every)
    else:
        train_step = train_step.lower(state, sums, *batch, *extra).compile()
    compile_seconds = time.perf_counter() - t0
    plateau_update = lambda p, v: plateau_tx.update(jnp.zeros(()), p, value=v)[1]
    ctx = RunContext(
        config=config,
        workdir=workdir,
        task=task,
        fns=fns,
        data=d,
        seeds=seeds,
        mesh=mesh,
        steps_per_epoch=steps_per_epoch,
        sync_every=sync_every,
        profiler=monitoring.Profiler(
            os.path.join(workdir, "tensorboard"),
            config.profile.first_step,
            config.profile.num_steps,
        ),
        learning_rate=functools.partial(optim.learning_rate_after, config, steps_per_epoch),
        train_step=train_step,
        evaluate=_evaluation(config, d, fns, k, batch_sharding, dtype, False),
        evaluate_flip=(
            _evaluation(config, d, fns, k, batch_sharding, dtype, True)
            if config.eval_flip_average
            else None
        ),
        permutation=perm_fn,
        plateau_update=jax.jit(plateau_update if k == 1 else jax.vmap(plateau_update)),
        compile_seconds=compile_seconds,
        checkpointer=Checkpointer(
            os.path.join(workdir, "checkpoints"),
            config.checkpoint.keep,
            aside_dir=os.path.join(workdir, "checkpoints_corrupt"),
        ),
        layer_stats=_make_layer_stats(config, model, d, k),
        transfer=transfer_info,
        model_shape={"num_outputs": num_outputs, "input_shape": list(input_shape[1:])},
    )
    return ctx, state


def _scanned(steps_from, state, sums, args, n_ahead: int):
    """`steps_from(state, sums, *args, n=n)` (epoch.make_train_step with scan), compiled
    ahead for n = n_ahead (the steps between two host syncs), by jit for any other n."""
    compiled = steps_from.lower(state, sums, *args, n=n_ahead).compile()

    def run(state, sums, *args, n: int):
        if n == n_ahead:
            return compiled(state, sums, *args)
        return steps_from(state, sums, *args, n=n)

    return run


def _lookahead(config: ml_collections.ConfigDict, steps_per_epoch: int):
    """The run's steps.Lookahead (config.lookahead), or None when it is off."""
    if not config_lib.lookahead_every(config):
        return None
    la = config.lookahead
    return steps.Lookahead(la.every, la.decay, la.power, config.epochs * steps_per_epoch)


def _data_initialised(config, model, state, d: data_setup.RunData, k: int, sharding):
    """`state` with the parameters its model computes from the training data
    (models.data_init: airbench's whitening kernel, from the first training images as the
    network sees them, normalised), the same in every replica, and its weight averages
    (ema, lookahead) restarted from them; `state` itself for other models."""
    data_init = models.data_init(config.model)
    if data_init is None:
        return state

    def first(n: int) -> jax.Array:
        images = d.images[:n]
        return d.normalizer(np.asarray(images) if d.streamed else images)

    computed = data_init(model, first)
    flat = traverse_util.flatten_dict(state.params)
    for path, value in computed.items():
        flat[path] = value if k == 1 else jnp.broadcast_to(value, (k, *value.shape))
    params = traverse_util.unflatten_dict(flat)
    if sharding is not None:
        params = jax.device_put(params, sharding)
    state = state.replace(params=params)
    return state.restarted_averages()


def _batch_shapes(config: ml_collections.ConfigDict, d: data_setup.RunData, k: int):
    """The (x, y) of a streamed training step, as shapes (what the step compiles for)."""
    lead = (config.batch_size,) if k == 1 else (k, config.batch_size)
    sharding = d.train.sharding
    return (
        jax.ShapeDtypeStruct(lead + tuple(d.images.shape[1:]), jnp.uint8, sharding=sharding),
        jax.ShapeDtypeStruct(lead + tuple(d.labels.shape[1:]), jnp.int32, sharding=sharding),
    )


def _evaluation(config, d: data_setup.RunData, fns, k, batch_sharding, dtype, flip: bool):
    """`evaluate(state, split) -> figures` of RunData's val or test: one compiled call over
    its padded batches on the device, or, streamed, a call per batch as they are read."""
    translate = flip and bool(config.get("eval_translate_average"))
    evaluate = epoch_lib.make_evaluate(fns, k, batch_sharding, dtype, flip, d.streamed, translate)
    if d.streamed:
        return lambda state, split: evaluate(state, split.evaluation(config.eval_batch_size))
    return lambda state, batches: evaluate(state, *batches)


def transplanted(config: ml_collections.ConfigDict, state, k: int, sharding):
    """`state` with the variables of the run in config.transfer.init_from (cnnjax.transfer),
    replica r from the source's replica r mod its number of seeds, or of the torchvision state
    dict in config.transfer.init_from_torch (cnnjax.interop), every replica the same."""
    if config.transfer.init_from_torch:
        merged = interop.init_variables(config, state.variables(), k)  # raises ConfigError
    else:
        source_dir = config.transfer.init_from
        _, _, source = trained.source_variables(source_dir, k)
        try:
            merged = transfer.transplant(state.variables(), source, config.transfer.reinit_head)
        except transfer.TransferError as e:
            raise config_lib.ConfigError(f"{e} ({source_dir})") from None
    if sharding is not None:
        merged = jax.device_put(merged, sharding)
    state = state.replace(params=merged["params"], batch_stats=merged.get("batch_stats", {}))
    return state.restarted_averages()  # any average starts at the transplanted weights


def _make_layer_stats(config: ml_collections.ConfigDict, model, d: data_setup.RunData, k: int):
    """state -> [per-replica cnnjax.layer_stats record] on the probe batch, or None when off."""
    if not config.layer_stats.enabled:
        return None
    n = min(config.layer_stats.probe_size, len(d.labels))
    probe = np.asarray(d.images[:n]) if d.streamed else d.images[:n]  # decoded, if in files
    images, labels = d.normalizer(probe), d.labels[:n]
    key = jax.random.PRNGKey(config.seed)  # the probe's dropout key, the same at every epoch
    measure = layer_stats_lib.Measure(model.apply)
    one = lambda state: measure(state.variables(), images, labels, key)
    compiled = jax.jit(one if k == 1 else epoch_lib.map_replicas(one, (0,), k))

    def records(state) -> list[dict[str, Any]]:
        stats = jax.device_get(compiled(state))
        per_replica = [stats] if k == 1 else [jax.tree.map(lambda a: a[r], stats) for r in range(k)]
        return [layer_stats_lib.to_record(measure.layout, s) for s in per_replica]

    return records
