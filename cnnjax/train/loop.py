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

The jobs of a run, one module each: `setup` (data, model, state, compiled functions),
`epochs` (an epoch's steps, then validation, plateau and early stopping), `loop_state` (the
bookkeeping checkpointed beside the TrainState), `results` (reports and the summary), with
`checkpoint`, `workdir`, `signals`, `data_setup` and `monitoring` beside them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import jax
import ml_collections
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import config as config_lib
from cnnjax import provenance, runtime
from cnnjax.train import data_setup, disk
from cnnjax.train import workdir as workdir_lib
from cnnjax.train.epochs import end_epoch, train_epoch
from cnnjax.train.loop_state import all_stopped, fresh_loop_state, snapshot, step_of
from cnnjax.train.results import log_epoch, run_summary, write_reports, write_summary
from cnnjax.train.setup import RunContext, setup, transplanted
from cnnjax.train.signals import RunInterrupted, agreed, recorded


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
    ctx, state = setup(config, workdir, mesh)
    # from here on SIGINT/SIGTERM save a checkpoint at the next host sync instead of killing
    with recorded() as signals, contextlib.closing(ctx.profiler):
        state, best, loop = _started(config, ctx, state)
        while loop["epoch"] < config.epochs and not all_stopped(loop):
            state, totals, seconds = train_epoch(ctx, state, best, loop, signals, progress)
            state, best = end_epoch(ctx, state, best, loop, totals, seconds)
            ctx.checkpointer.save(step_of(state), state, best, loop)
            write_reports(ctx, loop)
            log_epoch(ctx, loop)
            if signum := agreed(signals):
                raise RunInterrupted(signum, step_of(state))
    ctx.checkpointer.close()
    summary = run_summary(ctx, state, best, loop)
    write_summary(ctx, summary)
    return summary


def _started(config: ml_collections.ConfigDict, ctx: RunContext, state):
    """The state, best snapshot and loop state to train from: the latest checkpoint's, the
    transplanted weights of `transfer.init_from`, or the fresh ones; their reports written."""
    best = snapshot(state.for_evaluation()) if config.early_stopping.enabled else None
    loop = fresh_loop_state(ctx.num_replicas)
    if ctx.checkpointer.latest_step() is not None:
        state, best, loop = ctx.checkpointer.restore(state, best)
        logging.info("resumed from step %d (epoch %d)", step_of(state), loop["epoch"])
    # a resumed run needs only its own checkpoint
    elif config.transfer.init_from or config.transfer.get("init_from_torch"):
        replicated = None if ctx.mesh is None else NamedSharding(ctx.mesh, PartitionSpec())
        state = transplanted(config, state, ctx.num_replicas, replicated)
        best = snapshot(state.for_evaluation()) if config.early_stopping.enabled else None
    if ctx.layer_stats is not None and step_of(state) == 0 and "layer_stats_init" not in loop:
        loop["layer_stats_init"] = ctx.layer_stats(state)
    write_reports(ctx, loop)
    return state, best, loop
