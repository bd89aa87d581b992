"""The run loop: data in, epochs on the device, checkpoints, resume, reports out.

    summary = cnnjax.train.run(config, workdir)

Side effects (files, logs, signals) live here and in cnnjax.report; the steps stay pure.
A checkpoint is written after every epoch and when SIGINT/SIGTERM arrives; running the same
config on the same workdir resumes from the latest one and ends bit-identical to an
uninterrupted run, because every random choice derives from (seed, step) or (seed, epoch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from cnnjax import config as config_lib
from cnnjax import data, models, optim, pipeline, report
from cnnjax.train import early_stopping, steps
from cnnjax.train import epoch as epoch_lib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.state import create_train_state, num_params

# What a run writes into its workdir (and what --overwrite deletes; nothing else is touched).
RUN_OUTPUTS = (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "curves.png",
    "tensorboard",
    "checkpoints",
)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class WorkdirConflictError(ValueError):
    """The workdir holds a run of a different config."""


class RunInterrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved before raising."""

    def __init__(self, signum: int, step: int):
        super().__init__(
            f"{signal.Signals(signum).name} received: saved a checkpoint at step "
            f"{step}; run the same command again to resume"
        )
        self.signum = signum


@contextlib.contextmanager
def _signal_flag() -> Iterator[list[int]]:
    """Records SIGINT/SIGTERM in a list instead of raising; restores the handlers on exit."""
    received: list[int] = []
    handler = lambda signum, frame: received.append(signum)
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _flat(config_dict: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in config_dict.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _run_identity(config_json: dict[str, Any]) -> dict[str, Any]:
    """The flat fields that decide a run's numbers: all but RESUME_INDEPENDENT_FIELDS and the
    model_args of models other than the selected one (so registering a new model, or editing
    another model's defaults, does not orphan existing workdirs)."""
    own = f"model_args.{config_json['model']}."
    return {
        k: v
        for k, v in _flat(config_json).items()
        if k not in config_lib.RESUME_INDEPENDENT_FIELDS
        and (not k.startswith("model_args.") or k.startswith(own))
    }


def _config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
    return json.loads(config.to_json())


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str, overwrite: bool) -> None:
    """Creates `workdir` and its config.json; refuses a workdir holding a different config.

    With `overwrite`, an existing run in `workdir` is deleted first.
    """
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):
        if overwrite:
            for name in RUN_OUTPUTS:
                full = os.path.join(workdir, name)
                if os.path.isdir(full):
                    shutil.rmtree(full)
                elif os.path.exists(full):
                    os.remove(full)
        else:
            old, new = _run_identity(report.read_json(path)), _run_identity(_config_json(config))
            diffs = [
                f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
                for k in sorted(set(old) | set(new))
                if old.get(k) != new.get(k)
            ]
            if diffs:
                raise WorkdirConflictError(
                    f"{workdir} holds a run of a different config ({'; '.join(diffs)}); pass "
                    "--overwrite to discard that run, or choose another --workdir"
                )
    os.makedirs(workdir, exist_ok=True)
    report.write_json(path, _config_json(config))


@dataclasses.dataclass
class _Data:
    """The splits of a run, on the device, and what the report needs to know about them."""

    images: jax.Array  # (N, H, W, C) uint8, training split
    labels: jax.Array  # (N,) int32
    val: tuple | None  # padded evaluation batches (images, labels, mask)
    test: tuple
    normalizer: pipeline.Normalizer
    num_classes: int
    info: dict[str, Any]


def _load_data(config: ml_collections.ConfigDict) -> _Data:
    ds = data.load(config.dataset.name, config.dataset.data_dir or None)
    train, val = pipeline.holdout(ds.train, config.dataset.val_size, config.dataset.split_seed)
    if len(train) < config.batch_size:
        raise config_lib.ConfigError(
            f"batch_size={config.batch_size} exceeds the {len(train)} training examples of "
            f"{ds.name} after holding out dataset.val_size={config.dataset.val_size}"
        )
    normalizer = pipeline.Normalizer.fit(train.images, config.dataset.normalize)
    batches = lambda split: tuple(
        jax.device_put(a) for a in pipeline.padded_batches(split, config.eval_batch_size)
    )
    info = {
        "dataset": ds.name,
        "source": ds.source,
        "image_shape": list(train.images.shape[1:]),
        "num_classes": ds.num_classes,
        "num_train": len(train),
        "num_val": len(val),
        "num_test": len(ds.test),
        "normalize": config.dataset.normalize,
        "channel_mean": list(normalizer.mean),
        "channel_std": list(normalizer.std),
    }
    return _Data(
        jax.device_put(train.images),
        jax.device_put(train.labels),
        batches(val) if len(val) else None,
        batches(ds.test),
        normalizer,
        ds.num_classes,
        info,
    )


def _host(tree) -> dict[str, Any]:
    """Device scalars -> Python numbers (exact: float32 values are representable as float)."""
    return {k: np.asarray(v).item() for k, v in jax.device_get(tree).items()}


@dataclasses.dataclass
class _RunContext:
    """What stays fixed during a run: its config, data, compiled functions and outputs."""

    config: ml_collections.ConfigDict
    workdir: str
    data: _Data
    steps_per_epoch: int
    sync_every: int  # steps between host syncs (progress bar, signal checks)
    schedule: Any  # step -> learning rate
    train_step: Any  # compiled epoch_lib.make_train_step
    evaluate: Any  # jitted epoch_lib.make_evaluate
    permutation: Any  # jitted pipeline.epoch_permutation
    plateau_update: Any  # (plateau state, value) -> plateau state
    compile_seconds: float
    checkpointer: Checkpointer

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)


def _fresh_loop_state() -> dict[str, Any]:
    """The loop's own state, checkpointed as JSON beside the TrainState."""
    return {
        "epoch": 0,  # completed epochs
        "history": [],  # one record per completed epoch (metrics.jsonl)
        "best_value": None,  # early stopping: best value of its metric so far
        "best_epoch": 0,
        "bad_epochs": 0,  # epochs since the best
        "stopped_early": False,
        "train_seconds": 0.0,
        "partial": None,  # an interrupted epoch's running sums and seconds
    }


def _snapshot(state) -> dict[str, Any]:
    """A copy of the variables (the originals are donated to the next step)."""
    return jax.tree.map(jnp.copy, {"params": state.params, "batch_stats": state.batch_stats})


def _setup(config: ml_collections.ConfigDict, workdir: str):
    """Loads the data, builds the model and state, compiles the step.

    Returns (_RunContext, state)."""
    d = _load_data(config)
    logging.info("data: %s", json.dumps(d.info))
    steps_per_epoch = len(d.labels) // config.batch_size
    model = models.create(config.model, d.num_classes, **config_lib.model_overrides(config))
    tx = optim.make_optimizer(config, steps_per_epoch)
    plateau_tx = optim.make_plateau(config)
    input_shape = (1,) + tuple(d.images.shape[1:])
    state = jax.jit(lambda key: create_train_state(model, tx, plateau_tx, key, input_shape))(
        jax.random.PRNGKey(config.seed)
    )
    logging.info("model %s: %d parameters", config.model, num_params(state.params))

    loss_config = steps.LossConfig(
        config.loss.label_smoothing, config.loss.l1, config.loss.l2, config.loss.penalize
    )
    augment = pipeline.Augment(
        config.dataset.augment.crop_padding, config.dataset.augment.horizontal_flip
    )
    t0 = time.perf_counter()
    train_step = epoch_lib.make_train_step(d.normalizer, augment, loss_config, config.batch_size)
    perm = pipeline.epoch_permutation(config.seed, 0, len(d.labels))
    train_step = train_step.lower(
        state, epoch_lib.zero_sums(), d.images, d.labels, perm, jnp.int32(0)
    ).compile()
    compile_seconds = time.perf_counter() - t0
    ctx = _RunContext(
        config=config,
        workdir=workdir,
        data=d,
        steps_per_epoch=steps_per_epoch,
        sync_every=config.steps_per_sync or max(1, -(-steps_per_epoch // 10)),
        schedule=optim.make_schedule(config, steps_per_epoch),
        train_step=train_step,
        evaluate=epoch_lib.make_evaluate(d.normalizer),
        permutation=jax.jit(pipeline.epoch_permutation, static_argnums=(2,)),
        plateau_update=jax.jit(lambda p, v: plateau_tx.update(jnp.zeros(()), p, value=v)[1]),
        compile_seconds=compile_seconds,
        checkpointer=Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.keep),
    )
    return ctx, state


def _train_epoch(ctx: _RunContext, state, best, loop, signals: list[int], progress: bool):
    """Runs the rest of epoch loop['epoch'] (all of it unless resuming mid-epoch).

    Returns (state, totals, seconds). On SIGINT/SIGTERM saves a mid-epoch checkpoint and raises.
    """
    epoch, spe = loop["epoch"], ctx.steps_per_epoch
    d = ctx.data
    perm = ctx.permutation(ctx.config.seed, epoch, len(d.labels))
    partial = loop["partial"] or {}
    sums = epoch_lib.zero_sums()
    if partial:
        sums = {k: jnp.asarray(v, sums[k].dtype) for k, v in partial["sums"].items()}
    seconds = partial.get("seconds", 0.0)
    first = int(state.step) - epoch * spe
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
            state, sums = ctx.train_step(state, sums, d.images, d.labels, perm, jnp.int32(i))
        jax.block_until_ready(sums)
        seconds += time.perf_counter() - t
        bar.update(stop - start)
        if signals and stop < spe:
            bar.close()
            loop["partial"] = {"sums": _host(sums), "seconds": seconds}
            ctx.checkpointer.save(int(state.step), state, best, loop)
            raise RunInterrupted(signals[0], int(state.step))
    bar.close()
    totals = _host(sums)
    if totals["nonfinite_step"] >= 0:
        raise NonFiniteLossError(
            f"the training loss became non-finite at step {totals['nonfinite_step']} "
            f"(epoch {epoch + 1}); the last good checkpoint (step "
            f"{ctx.checkpointer.latest_step()}) is kept in {ctx.path('checkpoints')}. Lower "
            "optimizer.learning_rate or set optimizer.grad_clip_norm"
        )
    return state, totals, seconds


def _end_epoch(ctx: _RunContext, state, best, loop, totals, seconds):
    """Validation, plateau and early stopping after an epoch; appends its record to the
    history. Returns (state, best)."""
    config, es = ctx.config, ctx.config.early_stopping
    epoch = loop["epoch"] + 1
    record = {
        "epoch": epoch,
        "step": int(state.step),
        "train_loss": totals["loss_sum"] / totals["count"],
        "train_accuracy": totals["correct"] / totals["count"],
        "penalty": totals["penalty_sum"] / totals["count"],
        "learning_rate": float(ctx.schedule(int(state.step) - 1)) * float(state.plateau.scale),
        "epoch_seconds": seconds,
        "images_per_second": totals["count"] / seconds,
        "val_loss": None,
        "val_accuracy": None,
    }
    if ctx.data.val is not None:
        val = _host(ctx.evaluate(state, *ctx.data.val))
        record.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        if config.plateau.enabled:
            metric = config.plateau.metric
            value = early_stopping.plateau_value(metric, record[metric])
            state = state.replace(plateau=ctx.plateau_update(state.plateau, value))
        if es.enabled:
            value = record[es.metric]
            if early_stopping.improved(es.metric, value, loop["best_value"], es.min_delta):
                loop.update(best_value=value, best_epoch=epoch, bad_epochs=0)
                best = _snapshot(state)
            else:
                loop["bad_epochs"] += 1
                loop["stopped_early"] = loop["bad_epochs"] >= es.patience
    loop["epoch"] = epoch
    loop["history"].append(record)
    loop["train_seconds"] += seconds
    loop["partial"] = None
    return state, best


def _write_reports(ctx: _RunContext, loop) -> None:
    """metrics.jsonl, TensorBoard events and curves.png, rewritten from the whole history."""
    report.write_metrics(ctx.path("metrics.jsonl"), loop["history"])
    report.write_tensorboard(ctx.path("tensorboard"), loop["history"])
    if loop["history"]:
        title = f"{ctx.config.model} on {ctx.data.info['dataset']}"
        report.plot_curves(ctx.path("curves.png"), loop["history"], title=title)


def _log_epoch(ctx: _RunContext, loop) -> None:
    r, es = loop["history"][-1], ctx.config.early_stopping
    logging.info(
        "epoch %d/%d: train loss %.4f acc %.4f | val loss %s acc %s | lr %.3g | %.1fs, %.0f img/s",
        r["epoch"],
        ctx.config.epochs,
        r["train_loss"],
        r["train_accuracy"],
        _fmt(r["val_loss"]),
        _fmt(r["val_accuracy"]),
        r["learning_rate"],
        r["epoch_seconds"],
        r["images_per_second"],
    )
    if loop["stopped_early"]:
        logging.info(
            "early stopping: %s did not improve for %d epochs (best %.4f at epoch %d)",
            es.metric,
            es.patience,
            loop["best_value"],
            loop["best_epoch"],
        )


def _summary(ctx: _RunContext, state, best, loop) -> dict[str, Any]:
    """Evaluates on the test split (the best epoch's variables if early stopping restores
    them) and collects the run's figures."""
    es = ctx.config.early_stopping
    final = state
    if es.enabled and es.restore_best:
        final = state.replace(params=best["params"], batch_stats=best["batch_stats"])
    test = _host(ctx.evaluate(final, *ctx.data.test))
    history = loop["history"]
    val_acc = [r["val_accuracy"] for r in history if r["val_accuracy"] is not None]
    return {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "best_val_accuracy": max(val_acc) if val_acc else None,
        "best_epoch": loop["best_epoch"] if es.enabled else None,
        "epochs_run": loop["epoch"],
        "stopped_early": loop["stopped_early"],
        "final_train_loss": history[-1]["train_loss"],
        "final_train_accuracy": history[-1]["train_accuracy"],
        "train_seconds": loop["train_seconds"],
        "compile_seconds": ctx.compile_seconds,
        "num_params": num_params(state.params),
        "steps": int(state.step),
        "model": ctx.config.model,
        "device": str(jax.devices()[0].platform),
        "jax_version": jax.__version__,
        **ctx.data.info,
    }


def run(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    progress: bool | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Trains `config` in `workdir` (resuming from its latest checkpoint) and returns the summary.

    Writes config.json, metrics.jsonl, summary.json, curves.png, tensorboard/ and checkpoints/.
    Raises config_lib.ConfigError / models.UnknownModelError / data.DataError before any
    compile for bad input; NonFiniteLossError when the loss diverges (the last good checkpoint
    stays); RunInterrupted after saving a checkpoint on SIGINT/SIGTERM.
    """
    config_lib.validate(config)
    workdir = os.path.abspath(workdir)
    prepare_workdir(config, workdir, overwrite)
    if progress is None:
        progress = sys.stderr.isatty()
    ctx, state = _setup(config, workdir)
    best = _snapshot(state) if config.early_stopping.enabled else None
    loop = _fresh_loop_state()
    if ctx.checkpointer.latest_step() is not None:
        state, best, loop = ctx.checkpointer.restore(state, best)
        logging.info("resumed from step %d (epoch %d)", int(state.step), loop["epoch"])
    _write_reports(ctx, loop)

    with _signal_flag() as signals:
        while loop["epoch"] < config.epochs and not loop["stopped_early"]:
            state, totals, seconds = _train_epoch(ctx, state, best, loop, signals, progress)
            state, best = _end_epoch(ctx, state, best, loop, totals, seconds)
            ctx.checkpointer.save(int(state.step), state, best, loop)
            _write_reports(ctx, loop)
            _log_epoch(ctx, loop)
            if signals:
                raise RunInterrupted(signals[0], int(state.step))
    ctx.checkpointer.close()
    summary = _summary(ctx, state, best, loop)
    report.write_json(ctx.path("summary.json"), summary)
    return summary


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"
