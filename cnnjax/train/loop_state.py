"""The loop's own state between steps: per-replica bookkeeping checkpointed as JSON beside
the TrainState, the epoch's running sums, and moving device values to the host and back."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.train import epoch as epoch_lib


def host_replicas(tree, num_replicas: int) -> list[dict[str, Any]]:
    """A dict of device values, scalars or with a leading replica axis of length K > 1, as a
    list of K dicts of Python numbers (exact: float32 values are representable as float)."""
    values = jax.device_get(tree)
    python = lambda a: a.item() if a.ndim == 0 else a.tolist()  # a matrix as nested lists
    if num_replicas == 1:
        return [{k: python(np.asarray(v)) for k, v in values.items()}]
    return [{k: python(np.asarray(v)[r]) for k, v in values.items()} for r in range(num_replicas)]


def select_replicas(mask: list[bool], new, old):
    """Per replica: `new` where mask is True, else `old` (unstacked trees when len(mask) == 1)."""
    if len(mask) == 1:
        return new if mask[0] else old
    return epoch_lib.where_active(jnp.asarray(mask), new, old)


def fresh_loop_state(num_replicas: int) -> dict[str, Any]:
    """The loop's own state, checkpointed as JSON beside the TrainState."""
    replica = {
        "history": [],  # one record per completed epoch (metrics.jsonl)
        "best_value": None,  # early stopping: best value of its metric so far
        "best_epoch": 0,
        "bad_epochs": 0,  # epochs since the best
        "stopped_early": False,
        "diverged_step": None,  # the step whose loss was not finite; the replica stays frozen
        "steps": [],  # tensorboard.every_steps: the task's train figures between syncs
    }
    return {
        "epoch": 0,  # completed epochs
        "replicas": [dict(replica, history=[], steps=[]) for _ in range(num_replicas)],
        "train_seconds": 0.0,
        "partial": None,  # an interrupted epoch's running sums and seconds
    }


def is_training(replica: dict[str, Any]) -> bool:
    """Whether a replica still trains: it neither stopped early nor diverged."""
    return not replica["stopped_early"] and replica.get("diverged_step") is None


def all_stopped(loop) -> bool:
    return not any(is_training(r) for r in loop["replicas"])


def snapshot(state) -> dict[str, Any]:
    """A copy of the variables (the originals are donated to the next step)."""
    return jax.tree.map(jnp.copy, {"params": state.params, "batch_stats": state.batch_stats})


def zero_sums(num_replicas: int, sharding=None, task_sums=()) -> epoch_lib.EpochSums:
    """An epoch's zero running sums (with the task's `task_sums`), per replica, placed."""
    sums = epoch_lib.zero_sums(task_sums)
    if num_replicas > 1:
        sums = jax.tree.map(lambda v: jnp.broadcast_to(v, (num_replicas,)), sums)
    return sums if sharding is None else jax.device_put(sums, sharding)


def step_of(state) -> int:
    """The global step: that of the replicas still training (a replica that stopped early
    keeps the step it stopped at)."""
    return int(np.max(np.asarray(state.step)))
