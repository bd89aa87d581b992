"""Compiled functions for an epoch: a training step that gathers its own batch, and a whole
evaluation in one call.

Training data stays on the device as uint8; each step gathers its batch through the epoch's
permutation, augments and normalises it inside the compiled program, and adds its metrics to
the epoch's running sums, which stay on the device, so no value returns to the host between
steps.

Two ways to use more hardware, both without changing the step:
- replicas (`num_replicas` K > 1): K independent models (seeds) trained by one compiled step,
  mapped over the state, the running sums and the permutation (each replica visits the data in
  its own seed's order); an `active` mask (K,) freezes replicas that stopped early, and a
  replica whose loss became non-finite keeps its last finite state. The map is `jax.vmap` on
  accelerators; on XLA's CPU backend it is a Python loop unrolled inside the compiled step,
  because there a vmapped convolution's gradient cost 13x one replica's for
  K = 8 (and `lax.map` 340x), while the unrolled loop costs 7.4x (jax 0.10.2, 2-core EPYC).
- data parallelism (`batch_sharding`, a NamedSharding over a mesh axis): the gathered batch is
  constrained to be split over the devices, so each device computes its slice of the batch;
  the state and data are replicated, and XLA adds the all-reduces (gradients, batch-norm
  statistics over the global batch) that make the result equal to one device's.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from cnnjax.mixing import Mixing
from cnnjax.pipeline import Augment, Normalizer
from cnnjax.train import steps
from cnnjax.train.state import TrainState

# Running sums of a training epoch. `nonfinite_step` is the first global step whose loss was
# not finite (-1 while none was).
EpochSums = dict[str, jax.Array]


def zero_sums() -> EpochSums:
    return {
        "loss_sum": jnp.zeros((), jnp.float32),
        "penalty_sum": jnp.zeros((), jnp.float32),
        "correct": jnp.zeros((), jnp.float32),
        "count": jnp.zeros((), jnp.float32),
        "nonfinite_step": jnp.full((), -1, jnp.int32),
    }


# How replicas are mapped on each JAX backend ('vmap' where not listed); see the docstring.
REPLICA_MAP = {"cpu": "unroll"}


def map_replicas(fn: Callable, in_axes: tuple[int | None, ...], num_replicas: int) -> Callable:
    """fn mapped over the leading axis of the arguments whose in_axes entry is 0 (the others
    are shared), outputs stacked: `jax.vmap`, or on CPUs (REPLICA_MAP) an unrolled loop."""
    if REPLICA_MAP.get(jax.default_backend(), "vmap") == "vmap":
        return jax.vmap(fn, in_axes=in_axes)

    def unrolled(*args):
        outs = []
        for r in range(num_replicas):
            pick = lambda a, axis: a if axis is None else jax.tree.map(lambda v: v[r], a)
            outs.append(fn(*(pick(a, axis) for a, axis in zip(args, in_axes))))
        return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)

    return unrolled


def where_active(active: jax.Array, new, old):
    """Per replica: `new` where active (K,) is True, else `old` (trees with a leading K axis)."""
    pick = lambda n, o: jnp.where(active.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)
    return jax.tree.map(pick, new, old)


def make_train_step(
    normalizer: Normalizer,
    augment: Augment,
    loss_config: steps.LossConfig,
    batch_size: int,
    num_replicas: int = 1,
    batch_sharding: jax.sharding.Sharding | None = None,
    compute_dtype: jnp.dtype = jnp.float32,
    mixing: Mixing = Mixing(),
    ema_decay: float = 0.0,
) -> Callable:
    """Returns jitted `step(state, sums, images, labels, perm, i) -> (state, sums)`.

    Runs step i of an epoch on examples perm[i*B:(i+1)*B] of the uint8 arrays `images`
    (N, H, W, C) and `labels` (N,), which stay on the device; `state` and `sums` are donated.
    The host calls it once per step without waiting for the result. (A `lax.fori_loop` over
    the steps of an epoch was measured 25x slower per step on XLA's CPU backend, jax 0.10.2.)

    With num_replicas K > 1 the signature is `step(state, sums, images, labels, perms, i,
    active)`: state, sums and perms (K, N) carry a leading replica axis, and a replica whose
    `active` entry is False keeps its state and sums. `batch_sharding` splits each gathered
    batch over devices (data parallelism; see the module docstring). `compute_dtype`: see
    cnnjax.train.steps (mixed precision). `mixing`: mixup / CutMix of the normalised batch
    (cnnjax.mixing), drawn from the step's key like the augmentation. `ema_decay`: the decay
    of a state's weight average, when it keeps one (`TrainState.ema`).
    """

    def step(state: TrainState, sums: EpochSums, images, labels, perm, i):
        idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
        x, y = images[idx], labels[idx]
        if batch_sharding is not None:
            x = jax.lax.with_sharding_constraint(x, batch_sharding)
            y = jax.lax.with_sharding_constraint(y, batch_sharding)
        if augment.enabled:
            x = augment(jax.random.fold_in(jax.random.fold_in(state.rng, state.step), 1), x)
        x = normalizer(x)
        mixed = {}
        if mixing.enabled:
            key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), 2)
            x, labels_b, lam = mixing(key, x, y)
            mixed = {"labels_b": labels_b, "lam": lam}
        new_state, m = steps.train_step(
            state, x, y, loss_config, compute_dtype, **mixed, ema_decay=ema_decay
        )
        sums = {
            "loss_sum": sums["loss_sum"] + m["loss_sum"],
            "penalty_sum": sums["penalty_sum"] + m["penalty"] * m["count"],
            "correct": sums["correct"] + m["correct"],
            "count": sums["count"] + m["count"],
            "nonfinite_step": jnp.where(
                (sums["nonfinite_step"] < 0) & ~m["finite"], state.step, sums["nonfinite_step"]
            ),
        }
        return new_state, sums

    if num_replicas == 1:
        return jax.jit(step, donate_argnums=(0, 1))

    def replicated_step(state, sums, images, labels, perms, i, active):
        mapped = map_replicas(step, (0, 0, None, None, 0, None), num_replicas)
        new_state, new_sums = mapped(state, sums, images, labels, perms, i)
        finite = new_sums["nonfinite_step"] < 0  # (K,): no non-finite loss yet this epoch
        new_state = where_active(active & finite, new_state, state)  # a diverged one freezes
        return new_state, where_active(active, new_sums, sums)

    return jax.jit(replicated_step, donate_argnums=(0, 1))


def make_evaluate(
    normalizer: Normalizer,
    num_replicas: int = 1,
    batch_sharding: jax.sharding.Sharding | None = None,
    compute_dtype: jnp.dtype = jnp.float32,
    flip_average: bool = False,
) -> Callable:
    """Returns jitted `evaluate(state, images, labels, mask) -> {'loss', 'accuracy', 'count',
    'confusion'}` over pre-batched uint8 images (B, b, H, W, C), labels (B, b) and mask (B, b),
    'confusion' the (C, C) int32 counts of true class i predicted as j. With
    num_replicas K > 1 the state and every output carry a leading replica axis.
    flip_average: average each image's logits with its mirror image's (`steps.eval_step`)."""

    def evaluate(state: TrainState, images, labels, mask):
        def batch_sums(batch):
            x, y, m = batch
            if batch_sharding is not None:
                x, y, m = (jax.lax.with_sharding_constraint(a, batch_sharding) for a in (x, y, m))
            return steps.eval_step(state, normalizer(x), y, m, compute_dtype, flip_average)

        def body(total, batch):
            return jax.tree.map(jnp.add, total, batch_sums(batch)), None

        first = jax.tree.map(lambda a: a[0], (images, labels, mask))
        shapes = jax.eval_shape(batch_sums, first)
        zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        total, _ = jax.lax.scan(body, zero, (images, labels, mask))
        return {
            "loss": total["loss_sum"] / total["count"],
            "accuracy": total["correct"] / total["count"],
            "count": total["count"],
            "confusion": total["confusion"],
        }

    if num_replicas > 1:
        evaluate = map_replicas(evaluate, (0, None, None, None), num_replicas)
    return jax.jit(evaluate)
