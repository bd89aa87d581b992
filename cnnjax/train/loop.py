"""The run loop: data in, epochs on the device, checkpoints, resume, reports out.

    summary = cnnjax.train.run(config, workdir)

Side effects (files, logs, signals) live here and in cnnjax.report; the steps stay pure.
A checkpoint is written after every epoch and when SIGINT/SIGTERM arrives; running the same
config on the same workdir resumes from the latest one and ends bit-identical to an
uninterrupted run, because every random choice derives from (seed, step) or (seed, epoch).

`config.num_seeds` K > 1 trains the seeds seed, seed + 1, ..., seed + K - 1 as replicas of one
vmapped step (cnnjax.train.epoch); each replica gives the numbers of a separate run with its
seed, its reports go to <workdir>/seed_<s>/, and summary.json holds the mean and standard
deviation over seeds. `config.num_devices` > 1 (0: all devices, of every process) splits each
batch over a one-axis device mesh named 'data' (data parallelism).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import traverse_util
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from cnnjax import config as config_lib
from cnnjax import layer_stats as layer_stats_lib
from cnnjax import layers, models, optim, pipeline, provenance, report, runtime, transfer
from cnnjax.mixing import Mixing
from cnnjax.train import (
    class_report,
    data_setup,
    disk,
    early_stopping,
    monitoring,
    steps,
    trained,
)
from cnnjax.train import epoch as epoch_lib
from cnnjax.train import workdir as workdir_lib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.errors import NonFiniteLossError
from cnnjax.train.signals import RunInterrupted, agreed, recorded
from cnnjax.train.state import create_train_state, num_params, run_optimizer


def _host_replicas(tree, num_replicas: int) -> list[dict[str, Any]]:
    """A dict of device values, scalars or with a leading replica axis of length K > 1, as a
    list of K dicts of Python numbers (exact: float32 values are representable as float)."""
    values = jax.device_get(tree)
    python = lambda a: a.item() if a.ndim == 0 else a.tolist()  # a matrix as nested lists
    if num_replicas == 1:
        return [{k: python(np.asarray(v)) for k, v in values.items()}]
    return [
        {k: python(np.asarray(v)[r]) for k, v in values.items()} for r in range(num_replicas)
    ]


def _select(mask: list[bool], new, old):
    """Per replica: `new` where mask is True, else `old` (unstacked trees when len(mask) == 1)."""
    if len(mask) == 1:
        return new if mask[0] else old
    return epoch_lib.where_active(jnp.asarray(mask), new, old)


@dataclasses.dataclass
class _RunContext:
    """What stays fixed during a run: its config, data, compiled functions and outputs."""

    config: ml_collections.ConfigDict
    workdir: str
    data: data_setup.RunData
    seeds: tuple[int, ...]  # one per replica
    mesh: Mesh | None  # the data-parallel mesh, None on one device
    steps_per_epoch: int
    sync_every: int  # steps between host syncs (progress bar, signal checks)
    learning_rate: Any  # steps made -> the learning rate of the last update (before plateau)
    train_step: Any  # compiled epoch_lib.make_train_step
    evaluate: Any  # jitted epoch_lib.make_evaluate
    evaluate_flip: Any  # the same with flip_average (test-time flips); None unless configured
    permutation: Any  # epoch -> the epoch's permutation (K, N) or (N,)
    plateau_update: Any  # (plateau state, value) -> plateau state
    compile_seconds: float
    checkpointer: Checkpointer
    layer_stats: Any  # state -> one layer_stats record per replica; None when off
    profiler: monitoring.Profiler  # jax.profiler traces of config.profile's steps
    transfer: dict[str, Any]  # init_from, frozen modules and their parameter count

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


def _fresh_loop_state(num_replicas: int) -> dict[str, Any]:
    """The loop's own state, checkpointed as JSON beside the TrainState."""
    replica = {
        "history": [],  # one record per completed epoch (metrics.jsonl)
        "best_value": None,  # early stopping: best value of its metric so far
        "best_epoch": 0,
        "bad_epochs": 0,  # epochs since the best
        "stopped_early": False,
        "diverged_step": None,  # the step whose loss was not finite; the replica stays frozen
        "steps": [],  # tensorboard.every_steps: records of train loss/accuracy between syncs
    }
    return {
        "epoch": 0,  # completed epochs
        "replicas": [dict(replica, history=[], steps=[]) for _ in range(num_replicas)],
        "train_seconds": 0.0,
        "partial": None,  # an interrupted epoch's running sums and seconds
    }


def _training(replica: dict[str, Any]) -> bool:
    """Whether a replica still trains: it neither stopped early nor diverged."""
    return not replica["stopped_early"] and replica.get("diverged_step") is None


def _all_stopped(loop) -> bool:
    return not any(_training(r) for r in loop["replicas"])


def _snapshot(state) -> dict[str, Any]:
    """A copy of the variables (the originals are donated to the next step)."""
    return jax.tree.map(jnp.copy, {"params": state.params, "batch_stats": state.batch_stats})


def _setup(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh | None):
    """Loads the data, builds the model and state, compiles the step (data-parallel over
    `mesh`, if any).

    Returns (_RunContext, state)."""
    seeds = tuple(config.seed + r for r in range(config.num_seeds))
    d = data_setup.load(config, seeds, mesh)
    logging.info("data: %s", json.dumps(d.info))
    steps_per_epoch = d.info["num_train"] // config.batch_size
    k = len(seeds)
    model = models.create(config.model, d.num_classes, **config_lib.model_overrides(config))
    input_shape = (1,) + tuple(d.images.shape[1:])
    tx, frozen = run_optimizer(config, model, input_shape, steps_per_epoch)
    plateau_tx = optim.make_plateau(config)
    ema_decay = config_lib.ema_decay(config)
    init = lambda seed: create_train_state(
        model, tx, plateau_tx, jax.random.PRNGKey(seed), input_shape, ema=ema_decay > 0
    )
    replicated = None if mesh is None else NamedSharding(mesh, PartitionSpec())
    batch_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("data"))
    if k == 1:
        state = jax.jit(init, out_shardings=replicated)(config.seed)
    else:
        state = jax.jit(jax.vmap(init), out_shardings=replicated)(jnp.asarray(seeds))
    state = state.replace(apply_fn=transfer.frozen_apply(model.apply, frozen))
    params_one = state.params if k == 1 else jax.tree.map(lambda p: p[0], state.params)
    logging.info("model %s: %d parameters", config.model, num_params(params_one))
    flat = traverse_util.flatten_dict(params_one)
    frozen_one = [v for key, v in flat.items() if key[:-1] in frozen]
    transfer_info = {
        "init_from": config.transfer.init_from or None,
        "frozen_modules": ["/".join(m) for m in frozen],
        "frozen_params": num_params(frozen_one),
    }

    loss_config = steps.LossConfig(
        config.loss.label_smoothing, config.loss.l1, config.loss.l2, config.loss.penalize
    )
    augment = pipeline.Augment(**config.dataset.augment.to_dict())
    n = d.info["num_train"]
    if k == 1:
        order = lambda e: pipeline.epoch_permutation(config.seed, e, n)
    else:
        perms = jax.vmap(pipeline.epoch_permutation, in_axes=(0, None, None))
        order = lambda e: perms(jnp.asarray(seeds), e, n)
    if d.subsets is None:
        perm_fn = jax.jit(order)
    else:  # the epoch's order of each seed's own subset, as indices into the pool
        perm_fn = jax.jit(lambda e: jnp.take_along_axis(d.subsets, order(e), axis=-1))
    if replicated is not None:
        perm_fn = jax.jit(perm_fn, out_shardings=replicated)
    t0 = time.perf_counter()
    dtype = jnp.dtype(config.compute_dtype)
    mixing = Mixing(**config.mixing.to_dict()) if "mixing" in config else Mixing()
    train_step = epoch_lib.make_train_step(
        d.normalizer,
        augment,
        loss_config,
        config.batch_size,
        k,
        batch_sharding,
        dtype,
        mixing,
        ema_decay,
    )
    extra = () if k == 1 else (jnp.ones((k,), bool),)
    train_step = train_step.lower(
        state, _zero_sums(k, replicated), d.images, d.labels, perm_fn(0), jnp.int32(0), *extra
    ).compile()
    compile_seconds = time.perf_counter() - t0
    plateau_update = lambda p, v: plateau_tx.update(jnp.zeros(()), p, value=v)[1]
    ctx = _RunContext(
        config=config,
        workdir=workdir,
        data=d,
        seeds=seeds,
        mesh=mesh,
        steps_per_epoch=steps_per_epoch,
        sync_every=(
            config.tensorboard.every_steps
            or config.steps_per_sync
            or max(1, -(-steps_per_epoch // 10))
        ),
        profiler=monitoring.Profiler(
            os.path.join(workdir, "tensorboard"), config.profile.first_step,
            config.profile.num_steps,
        ),
        learning_rate=functools.partial(optim.learning_rate_after, config, steps_per_epoch),
        train_step=train_step,
        evaluate=epoch_lib.make_evaluate(d.normalizer, k, batch_sharding, dtype),
        evaluate_flip=(
            epoch_lib.make_evaluate(d.normalizer, k, batch_sharding, dtype, flip_average=True)
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
    )
    return ctx, state


def _transplanted(config: ml_collections.ConfigDict, state, k: int, sharding):
    """`state` with the variables of the run in config.transfer.init_from (cnnjax.transfer):
    replica r starts from the source's replica r mod its number of seeds."""
    source_dir = config.transfer.init_from
    _, _, source = trained.source_variables(source_dir, k)
    try:
        merged = transfer.transplant(state.variables(), source, config.transfer.reinit_head)
    except transfer.TransferError as e:
        raise config_lib.ConfigError(f"{e} ({source_dir})") from None
    if sharding is not None:
        merged = jax.device_put(merged, sharding)
    state = state.replace(params=merged["params"], batch_stats=merged.get("batch_stats", {}))
    if state.ema is not None:  # the average starts at the transplanted weights
        state = state.replace(ema=_snapshot(state))
    return state


def _make_layer_stats(config: ml_collections.ConfigDict, model, d: data_setup.RunData, k: int):
    """state -> [per-replica cnnjax.layer_stats record] on the probe batch, or None when off."""
    if not config.layer_stats.enabled:
        return None
    n = min(config.layer_stats.probe_size, len(d.labels))
    images, labels = d.normalizer(d.images[:n]), d.labels[:n]
    key = jax.random.PRNGKey(config.seed)  # the probe's dropout key, the same at every epoch
    measure = layer_stats_lib.Measure(model.apply)
    one = lambda state: measure(state.variables(), images, labels, key)
    compiled = jax.jit(one if k == 1 else epoch_lib.map_replicas(one, (0,), k))

    def records(state) -> list[dict[str, Any]]:
        stats = jax.device_get(compiled(state))
        per_replica = [stats] if k == 1 else [jax.tree.map(lambda a: a[r], stats) for r in range(k)]
        return [layer_stats_lib.to_record(measure.layout, s) for s in per_replica]

    return records


def _zero_sums(num_replicas: int, sharding=None) -> epoch_lib.EpochSums:
    sums = epoch_lib.zero_sums()
    if num_replicas > 1:
        sums = jax.tree.map(lambda v: jnp.broadcast_to(v, (num_replicas,)), sums)
    return sums if sharding is None else jax.device_put(sums, sharding)


def _train_epoch(ctx: _RunContext, state, best, loop, signals: list[int], progress: bool):
    """Runs the rest of epoch loop['epoch'] (all of it unless resuming mid-epoch).

    Returns (state, totals, seconds). On SIGINT/SIGTERM saves a mid-epoch checkpoint and raises.
    """
    epoch, spe, k = loop["epoch"], ctx.steps_per_epoch, ctx.num_replicas
    d = ctx.data
    perm = ctx.permutation(epoch)
    partial = loop["partial"] or {}
    replicated = None if ctx.mesh is None else NamedSharding(ctx.mesh, PartitionSpec())
    sums = _zero_sums(k, replicated)
    if partial:
        saved = partial["sums"]
        sums = {
            name: jnp.asarray(
                saved[0][name] if k == 1 else [s[name] for s in saved], sums[name].dtype
            )
            for name in sums
        }
        if replicated is not None:
            sums = jax.device_put(sums, replicated)
    extra = () if k == 1 else (jnp.asarray([_training(r) for r in loop["replicas"]]),)
    seconds = partial.get("seconds", 0.0)
    first = _step(state) - epoch * spe
    bar = tqdm(
        total=spe,
        initial=first,
        disable=not progress,
        leave=False,
        desc=f"epoch {epoch + 1}/{ctx.config.epochs}",
        unit="step",
    )
    for start in range(first, spe, ctx.sync_every):
        stop = min(start + ctx.sync_every, spe)
        t = time.perf_counter()
        for i in range(start, stop):
            ctx.profiler.before(epoch * spe + i)
            state, sums = ctx.train_step(
                state, sums, d.images, d.labels, perm, jnp.int32(i), *extra
            )
            ctx.profiler.after(epoch * spe + i, sums)
        jax.block_until_ready(sums)
        seconds += time.perf_counter() - t
        bar.update(stop - start)
        if ctx.config.tensorboard.every_steps:
            now = _host_replicas(sums, k)
            records = monitoring.step_records(epoch * spe + stop, now, partial.get("at_sync"))
            for rep, record in zip(loop["replicas"], records):
                if record is not None:
                    rep.setdefault("steps", []).append(record)
            partial["at_sync"] = now
        if stop < spe and (signum := agreed(signals)):
            bar.close()
            loop["partial"] = {
                "sums": _host_replicas(sums, k),
                "seconds": seconds,
                "at_sync": partial.get("at_sync"),
            }
            ctx.checkpointer.save(_step(state), state, best, loop)
            raise RunInterrupted(signum, _step(state))
    bar.close()
    totals = _host_replicas(sums, k)
    diverged = [
        (seed, rep, t["nonfinite_step"])
        for seed, rep, t in zip(ctx.seeds, loop["replicas"], totals)
        if t["nonfinite_step"] >= 0 and _training(rep)
    ]
    if k > 1:  # a diverged replica is frozen at its last finite step; the others go on
        for seed, rep, step in diverged:
            rep["diverged_step"] = step
            logging.warning("seed %d diverged at step %d (epoch %d): frozen", seed, step, epoch + 1)
    if (k == 1 and diverged) or (k > 1 and diverged and _all_stopped(loop)):
        seeds = ", ".join(str(seed) for seed, _, _ in diverged)
        raise NonFiniteLossError(
            f"the training loss became non-finite at step {diverged[0][2]} "
            f"(epoch {epoch + 1}, seed {seeds}); {ctx.checkpointer.kept()}. "
            "Lower optimizer.learning_rate or set optimizer.grad_clip_norm"
        )
    return state, totals, seconds


def _step(state) -> int:
    """The global step: that of the replicas still training (a replica that stopped early
    keeps the step it stopped at)."""
    return int(np.max(np.asarray(state.step)))


def _end_epoch(ctx: _RunContext, state, best, loop, totals, seconds):
    """Validation, plateau and early stopping after an epoch, per replica; appends each
    replica's record to its history (a replica that stopped early records nothing more).
    Returns (state, best)."""
    config, es, k = ctx.config, ctx.config.early_stopping, ctx.num_replicas
    epoch, step = loop["epoch"] + 1, _step(state)
    active = [_training(r) for r in loop["replicas"]]
    scales = np.asarray(state.plateau.scale).reshape(-1)
    count = sum(t["count"] for t in totals)
    records = [
        {
            "epoch": epoch,
            "step": step,
            "train_loss": t["loss_sum"] / t["count"],
            "train_accuracy": t["correct"] / t["count"],
            "penalty": t["penalty_sum"] / t["count"],
            "learning_rate": ctx.learning_rate(step) * float(scales[r]),
            "epoch_seconds": seconds,
            "images_per_second": count / seconds,  # of all replicas together
            "val_loss": None,
            "val_accuracy": None,
        }
        if active[r]
        else None  # stopped early: trained no more
        for r, t in enumerate(totals)
    ]
    if ctx.data.val is not None:
        evaluated = ctx.evaluate(state.for_evaluation(), *ctx.data.val)
        for record, val in zip(records, _host_replicas(evaluated, k)):
            if record is not None:
                record.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        if config.plateau.enabled:
            metric = config.plateau.metric
            values = [
                early_stopping.plateau_value(metric, r[metric]) if r else 0.0 for r in records
            ]
            value = jnp.asarray(values[0] if k == 1 else values, jnp.float32)
            plateau = ctx.plateau_update(state.plateau, value)
            state = state.replace(plateau=_select(active, plateau, state.plateau))
        if es.enabled:
            improved = [False] * k
            for r, (rep, record) in enumerate(zip(loop["replicas"], records)):
                if record is None:
                    continue
                value = record[es.metric]
                if early_stopping.improved(es.metric, value, rep["best_value"], es.min_delta):
                    rep.update(best_value=value, best_epoch=epoch, bad_epochs=0)
                    improved[r] = True
                else:
                    rep["bad_epochs"] += 1
                    rep["stopped_early"] = rep["bad_epochs"] >= es.patience
            if any(improved):
                best = _select(improved, _snapshot(state.for_evaluation()), best)
    if ctx.layer_stats is not None:
        init = loop.get("layer_stats_init") or [None] * k
        for record, stats, at_init in zip(records, ctx.layer_stats(state), init):
            if record is not None:
                record["layer_stats"] = stats
                if epoch == 1:
                    record["layer_stats_init"] = at_init
    for rep, record in zip(loop["replicas"], records):
        if record is not None:
            rep["history"].append(record)
    loop["epoch"] = epoch
    loop["train_seconds"] += seconds
    loop["partial"] = None
    return state, best


def _write_reports(ctx: _RunContext, loop) -> None:
    """metrics.jsonl, TensorBoard events and curves.png of every replica, rewritten from the
    whole history (by the main process only)."""
    if not ctx.is_main_process:
        return
    with disk.guard("the reports", ctx.workdir, ctx.checkpointer.kept):
        _write_replica_reports(ctx, loop)


def _write_replica_reports(ctx: _RunContext, loop) -> None:
    for r, rep in enumerate(loop["replicas"]):
        os.makedirs(os.path.dirname(ctx.replica_path(r, "metrics.jsonl")), exist_ok=True)
        report.write_metrics(ctx.replica_path(r, "metrics.jsonl"), rep["history"])
        report.write_tensorboard(
            ctx.replica_path(r, "tensorboard"), rep["history"], rep.get("steps", ())
        )
        if rep["history"]:
            title = f"{ctx.config.model} on {ctx.data.info['dataset']}"
            if ctx.num_replicas > 1:
                title += f", seed {ctx.seeds[r]}"
            report.plot_curves(ctx.replica_path(r, "curves.png"), rep["history"], title=title)


def _log_epoch(ctx: _RunContext, loop) -> None:
    es = ctx.config.early_stopping
    for seed, rep in zip(ctx.seeds, loop["replicas"]):
        if not rep["history"] or rep["history"][-1]["epoch"] != loop["epoch"]:
            continue  # stopped early or diverged before this epoch
        r = rep["history"][-1]
        logging.info(
            "epoch %d/%d%s: train loss %.4f acc %.4f | val loss %s acc %s | lr %.3g | %.1fs, "
            "%.0f img/s",
            r["epoch"],
            ctx.config.epochs,
            f" seed {seed}" if ctx.num_replicas > 1 else "",
            r["train_loss"],
            r["train_accuracy"],
            _fmt(r["val_loss"]),
            _fmt(r["val_accuracy"]),
            r["learning_rate"],
            r["epoch_seconds"],
            r["images_per_second"],
        )
        if rep["stopped_early"]:
            logging.info(
                "early stopping%s: %s did not improve for %d epochs (best %.4f at epoch %d)",
                f" seed {seed}" if ctx.num_replicas > 1 else "",
                es.metric,
                es.patience,
                rep["best_value"],
                rep["best_epoch"],
            )


# Per-seed figures that a multi-seed summary reports as mean and standard deviation.
SEED_STATISTICS = (
    "test_accuracy",
    "test_loss",
    "test_accuracy_flip",
    "test_loss_flip",
    "test_accuracy_no_ema",
    "test_loss_no_ema",
    "best_val_accuracy",
    "final_train_loss",
    "final_train_accuracy",
    "epochs_run",
)


def _summary(ctx: _RunContext, state, best, loop) -> dict[str, Any]:
    """Evaluates every replica on the test split (the best epoch's variables if early stopping
    restores them; also with test-time flips if eval_flip_average) and collects the run's
    figures; for K > 1 seeds, also each seed's summary
    (`per_seed`) and the mean and standard deviation (`<figure>_std`, ddof 1) of
    SEED_STATISTICS over seeds, the means under the figures' own names."""
    es, k = ctx.config.early_stopping, ctx.num_replicas
    final = state.for_evaluation()  # the weights' average when the run keeps one
    if es.enabled and es.restore_best:
        final = final.replace(params=best["params"], batch_stats=best["batch_stats"])
    tests = _host_replicas(ctx.evaluate(final, *ctx.data.test), k)
    raw = [None] * k  # with an EMA, the raw weights too
    if state.ema is not None:
        raw = _host_replicas(ctx.evaluate(state, *ctx.data.test), k)
    flips = [None] * k
    if ctx.evaluate_flip is not None:
        flips = _host_replicas(ctx.evaluate_flip(final, *ctx.data.test), k)
    params_one = state.params if k == 1 else jax.tree.map(lambda p: p[0], state.params)
    shared = {
        "train_seconds": loop["train_seconds"],
        "compile_seconds": ctx.compile_seconds,
        "num_params": num_params(params_one),
        **ctx.transfer,
        "steps": _step(state),
        "model": ctx.config.model,
        "conv_impl": _conv_impl(ctx.config),
        "compute_dtype": ctx.config.compute_dtype,
        "ema_decay": config_lib.ema_decay(ctx.config),
        "device": str(jax.devices()[0].platform),
        "num_devices": 1 if ctx.mesh is None else ctx.mesh.size,
        "num_processes": jax.process_count(),
        "jax_version": jax.__version__,
        "provenance": provenance.collect(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        **ctx.data.info,
    }
    per_seed = []
    for seed, rep, test, flip, no_ema in zip(ctx.seeds, loop["replicas"], tests, flips, raw):
        history = rep["history"]
        last = history[-1] if history else {}  # empty for a replica that diverged in epoch 1
        val_acc = [r["val_accuracy"] for r in history if r["val_accuracy"] is not None]
        per_seed.append(
            {
                "seed": seed,
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                "best_val_accuracy": max(val_acc) if val_acc else None,
                "best_epoch": rep["best_epoch"] if es.enabled else None,
                "epochs_run": len(history),
                "stopped_early": rep["stopped_early"],
                "final_train_loss": last.get("train_loss"),
                "final_train_accuracy": last.get("train_accuracy"),
            }
        )
        if flip is not None:
            per_seed[-1].update(test_accuracy_flip=flip["accuracy"], test_loss_flip=flip["loss"])
        if no_ema is not None:
            per_seed[-1].update(
                test_accuracy_no_ema=no_ema["accuracy"], test_loss_no_ema=no_ema["loss"]
            )
        per_seed[-1].update(class_report.seed_report(test["confusion"], ctx.data.class_names))
        if rep.get("diverged_step") is not None:  # its figures are not a result
            per_seed[-1] = {
                **{key: None for key in per_seed[-1]},
                "seed": seed,
                "epochs_run": len(history),
                "diverged_step": rep["diverged_step"],
            }
    if k == 1:
        return {**per_seed[0], **shared}
    finished = [s for s in per_seed if s.get("diverged_step") is None]
    if finished:
        shared["per_class"] = class_report.over_seeds(finished)
    out = {
        "num_seeds": k,
        "seeds": list(ctx.seeds),
        "diverged_seeds": [s["seed"] for s in per_seed if s.get("diverged_step") is not None],
    }
    for key in (k for k in SEED_STATISTICS if k in per_seed[0]):  # over the seeds that finished
        values = [s[key] for s in finished]
        if not values or any(v is None for v in values):
            out[key] = out[f"{key}_std"] = None
        else:
            std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            out[key], out[f"{key}_std"] = float(np.mean(values)), std
    return {**out, **shared, "per_seed": per_seed}


def _conv_impl(config: ml_collections.ConfigDict) -> str | None:
    """The convolution implementation the model ran with ('auto' resolved), if it has one."""
    impl = config_lib.model_overrides(config).get("conv_impl")
    return None if impl is None else layers.resolve_conv_impl(impl)


def run(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    progress: bool | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Trains `config` in `workdir` (resuming from its latest checkpoint) and returns the summary.

    Writes config.json, metrics.jsonl, summary.json, curves.png, tensorboard/ and checkpoints/,
    holding the workdir's lock (cnnjax.train.workdir) meanwhile. Raises ValueError for bad
    input before any compile: config_lib.ConfigError / models.UnknownModelError /
    data.DataError, errors.WorkdirError (a file as the workdir, another config there, another
    run in progress there). Raises errors.RunError once started: NonFiniteLossError when the
    loss diverges, DiskFullError, CheckpointError when no checkpoint restores (a checkpoint
    that does not restore is moved aside and the one before used); the last good checkpoint
    always stays. RunInterrupted after saving a checkpoint on SIGINT/SIGTERM (agreed on by
    all processes of a multi-process run).
    """
    provenance.code()  # the commit this process runs, read before it trains (cached)
    config_lib.validate(config)
    mesh = data_setup.mesh(config)
    runtime.enable_compilation_cache(config.compile_cache_dir or None)
    workdir = os.path.abspath(workdir)
    lock = contextlib.nullcontext()
    if jax.process_index() == 0:  # the other processes of a multi-process run write no files
        lock = workdir_lib.locked(workdir_lib.ensure_folder(workdir))
    with lock:
        if jax.process_index() == 0:
            with disk.guard("config.json", workdir, lambda: "nothing was trained"):
                workdir_lib.prepare_workdir(config, workdir, overwrite)
        return _train(config, workdir, mesh, progress)


def _train(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh | None, progress):
    """The body of `run`, in a prepared workdir whose lock this process holds."""
    if progress is None:
        progress = sys.stderr.isatty() and jax.process_index() == 0
    ctx, state = _setup(config, workdir, mesh)
    best = _snapshot(state.for_evaluation()) if config.early_stopping.enabled else None
    loop = _fresh_loop_state(ctx.num_replicas)
    if ctx.checkpointer.latest_step() is not None:
        state, best, loop = ctx.checkpointer.restore(state, best)
        logging.info("resumed from step %d (epoch %d)", _step(state), loop["epoch"])
    elif config.transfer.init_from:  # a resumed run needs only its own checkpoint
        replicated = None if ctx.mesh is None else NamedSharding(ctx.mesh, PartitionSpec())
        state = _transplanted(config, state, ctx.num_replicas, replicated)
        best = _snapshot(state.for_evaluation()) if config.early_stopping.enabled else None
    if ctx.layer_stats is not None and _step(state) == 0 and "layer_stats_init" not in loop:
        loop["layer_stats_init"] = ctx.layer_stats(state)
    _write_reports(ctx, loop)

    with recorded() as signals, contextlib.closing(ctx.profiler):
        while loop["epoch"] < config.epochs and not _all_stopped(loop):
            state, totals, seconds = _train_epoch(ctx, state, best, loop, signals, progress)
            state, best = _end_epoch(ctx, state, best, loop, totals, seconds)
            ctx.checkpointer.save(_step(state), state, best, loop)
            _write_reports(ctx, loop)
            _log_epoch(ctx, loop)
            if signum := agreed(signals):
                raise RunInterrupted(signum, _step(state))
    ctx.checkpointer.close()
    summary = _summary(ctx, state, best, loop)
    if ctx.is_main_process:
        with disk.guard("summary.json", workdir, ctx.checkpointer.kept):
            report.write_json(ctx.path("summary.json"), summary)
            if config.tensorboard.hparams:
                fields = workdir_lib.run_identity(workdir_lib.config_json(config))
                figures = ("test_accuracy", "test_loss", "best_val_accuracy")
                report.write_hparams(
                    ctx.path("tensorboard"), fields, {f: summary.get(f) for f in figures}
                )
            confusions = [s["confusion_matrix"] for s in summary.get("per_seed", [summary])]
            if confusions := [c for c in confusions if c is not None]:
                class_report.write_png(
                    ctx.path(class_report.PNG), confusions, ctx.data.class_names
                )
    return summary


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"

