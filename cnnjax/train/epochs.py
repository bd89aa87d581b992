"""One epoch of a run: its steps on the device with host syncs, signals and per-step records
(`train_epoch`), then validation, reduce-on-plateau and early stopping per replica
(`end_epoch`)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec
from tqdm import tqdm

from cnnjax.train import early_stopping, monitoring
from cnnjax.train.errors import NonFiniteLossError
from cnnjax.train.loop_state import (
    all_stopped,
    host_replicas,
    is_training,
    select_replicas,
    snapshot,
    step_of,
    zero_sums,
)
from cnnjax.train.setup import RunContext
from cnnjax.train.signals import RunInterrupted, agreed


def train_epoch(ctx: RunContext, state, best, loop, signals: list[int], progress: bool):
    """Runs the rest of epoch loop['epoch'] (all of it unless resuming mid-epoch).

    Returns (state, totals, seconds). On SIGINT/SIGTERM saves a mid-epoch checkpoint and raises.
    """
    epoch, spe, k = loop["epoch"], ctx.steps_per_epoch, ctx.num_replicas
    d = ctx.data
    perm = ctx.permutation(epoch)
    partial = loop["partial"] or {}
    replicated = None if ctx.mesh is None else NamedSharding(ctx.mesh, PartitionSpec())
    sums = zero_sums(k, replicated, ctx.fns.train_sums)
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
    extra = () if k == 1 else (jnp.asarray([is_training(r) for r in loop["replicas"]]),)
    seconds = partial.get("seconds", 0.0)
    at_sync = partial.get("sums")  # the running sums at the last sync (an interruption's)
    first = step_of(state) - epoch * spe
    batches = None
    if d.streamed:  # grain reads the rest of the epoch; the position resumes a partial epoch
        batches = _epoch_batches(ctx, perm, first, partial.get("stream"))
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
        if ctx.config.get("scan_steps"):  # the chunk's steps as one compiled loop
            ctx.profiler.before(epoch * spe + start, stop - start)
            batch = (d.images, d.labels, perm, jnp.int32(start))
            state, sums = ctx.train_step(state, sums, *batch, *extra, n=stop - start)
            ctx.profiler.after(epoch * spe + stop - 1, sums)
        else:
            for i in range(start, stop):
                ctx.profiler.before(epoch * spe + i)
                batch = next(batches) if batches else (d.images, d.labels, perm, jnp.int32(i))
                state, sums = ctx.train_step(state, sums, *batch, *extra)
                ctx.profiler.after(epoch * spe + i, sums)
        jax.block_until_ready(sums)
        seconds += time.perf_counter() - t
        bar.update(stop - start)
        if ctx.config.tensorboard.every_steps:
            now = host_replicas(sums, k)
            records = monitoring.step_records(
                epoch * spe + stop, now, at_sync, ctx.task.train_record
            )
            for rep, record in zip(loop["replicas"], records):
                if record is not None:
                    rep.setdefault("steps", []).append(record)
            at_sync = now
        if stop < spe and (signum := agreed(signals)):
            bar.close()
            loop["partial"] = {"sums": host_replicas(sums, k), "seconds": seconds}
            if batches:
                loop["partial"]["stream"] = batches.position
            ctx.checkpointer.save(step_of(state), state, best, loop)
            raise RunInterrupted(signum, step_of(state))
    bar.close()
    totals = host_replicas(sums, k)
    diverged = [
        (seed, rep, t["nonfinite_step"])
        for seed, rep, t in zip(ctx.seeds, loop["replicas"], totals)
        if t["nonfinite_step"] >= 0 and is_training(rep)
    ]
    if k > 1:  # a diverged replica is frozen at its last finite step; the others go on
        for seed, rep, step in diverged:
            rep["diverged_step"] = step
            logging.warning("seed %d diverged at step %d (epoch %d): frozen", seed, step, epoch + 1)
    if (k == 1 and diverged) or (k > 1 and diverged and all_stopped(loop)):
        seeds = ", ".join(str(seed) for seed, _, _ in diverged)
        raise NonFiniteLossError(
            f"the training loss became non-finite at step {diverged[0][2]} "
            f"(epoch {epoch + 1}, seed {seeds}); {ctx.checkpointer.kept()}. "
            "Lower optimizer.learning_rate or set optimizer.grad_clip_norm"
        )
    return state, totals, seconds


def _epoch_batches(ctx: RunContext, perm, first: int, saved: dict | None):
    """The streamed batches of an epoch from step `first` on: grain's iterator restored to
    the position a mid-epoch checkpoint saved, which must be where step `first` reads."""
    d = ctx.data
    at = {"next_index": first}
    if saved is not None and saved != at:
        raise RuntimeError(
            f"the checkpoint's stream position {saved} is not that of step {first} of its "
            f"epoch ({at}): the checkpoint is inconsistent"
        )
    start = at if first else None
    return d.train.epoch(perm, ctx.steps_per_epoch, ctx.config.batch_size, state=start)


def end_epoch(ctx: RunContext, state, best, loop, totals, seconds):
    """Validation, plateau and early stopping after an epoch, per replica; appends each
    replica's record to its history (a replica that stopped early records nothing more).
    Returns (state, best)."""
    config, es, k, task = ctx.config, ctx.config.early_stopping, ctx.num_replicas, ctx.task
    epoch, step = loop["epoch"] + 1, step_of(state)
    active = [is_training(r) for r in loop["replicas"]]
    scales = np.asarray(state.plateau.scale).reshape(-1)
    trained = sum(t["count"] > 0 for t in totals)  # replicas that trained this epoch
    examples = ctx.steps_per_epoch * config.batch_size * trained
    records = [
        {
            "epoch": epoch,
            "step": step,
            **{f"train_{name}": v for name, v in task.train_record(t).items()},
            "penalty": t["penalty_sum"] / t["count"],
            "learning_rate": ctx.learning_rate(step) * float(scales[r]),
            "epoch_seconds": seconds,
            "images_per_second": examples / seconds,
            **{f"val_{name}": None for name in task.figures},
        }
        if active[r]
        else None  # stopped early: trained no more
        for r, t in enumerate(totals)
    ]
    if ctx.data.val is not None:
        evaluated = ctx.evaluate(state.for_evaluation(), ctx.data.val)
        for record, val in zip(records, host_replicas(evaluated, k)):
            if record is not None:
                values = task.figure_values(config, val)
                record.update({f"val_{name}": v for name, v in values.items()})
        if config.plateau.enabled:
            higher = task.higher(config.plateau.metric)
            values = [
                early_stopping.plateau_value(higher, r[config.plateau.metric]) if r else 0.0
                for r in records
            ]
            value = jnp.asarray(values[0] if k == 1 else values, jnp.float32)
            plateau = ctx.plateau_update(state.plateau, value)
            state = state.replace(plateau=select_replicas(active, plateau, state.plateau))
        if es.enabled:
            improved = [False] * k
            for r, (rep, record) in enumerate(zip(loop["replicas"], records)):
                if record is None:
                    continue
                value = record[es.metric]
                better = task.higher(es.metric)
                if early_stopping.improved(better, value, rep["best_value"], es.min_delta):
                    rep.update(best_value=value, best_epoch=epoch, bad_epochs=0)
                    improved[r] = True
                else:
                    rep["bad_epochs"] += 1
                    rep["stopped_early"] = rep["bad_epochs"] >= es.patience
            if any(improved):
                best = select_replicas(improved, snapshot(state.for_evaluation()), best)
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
