"""Compiled functions for an epoch: a training step that gathers its own batch, and a whole
evaluation in one call.

Training data stays on the device as uint8; each step gathers its batch through the epoch's
permutation, has its task prepare it (cnnjax.tasks: augmentation, normalisation, ...) inside
the compiled program, and adds its metrics to
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

from cnnjax import augment
from cnnjax.tasks.base import BatchFns
from cnnjax.train import steps
from cnnjax.train.state import TrainState

# Running sums of a training epoch: `loss_sum`, `penalty_sum`, `count`, the task's own sums,
# and `nonfinite_step`, the first global step whose loss was not finite (-1 while none was).
EpochSums = dict[str, jax.Array]


def zero_sums(task_sums: tuple[str, ...] = ()) -> EpochSums:
    """The sums of an epoch before its first step; `task_sums` names the task's (BatchFns)."""
    names = ("loss_sum", "penalty_sum", *task_sums, "count")
    return {
        **{name: jnp.zeros((), jnp.float32) for name in names},
        "nonfinite_step": jnp.full((), -1, jnp.int32),
    }


# fold_in(rng, FLIP_COINS) draws the alternating flips' coins (fold_in(rng, t), t < 2^31 - 1,
# is step t's key).
FLIP_COINS = 2**31 - 1

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
    fns: BatchFns,
    penalty: steps.Penalty,
    batch_size: int,
    num_replicas: int = 1,
    batch_sharding: jax.sharding.Sharding | None = None,
    compute_dtype: jnp.dtype = jnp.float32,
    ema_decay: float = 0.0,
    streamed: bool = False,
    lookahead: steps.Lookahead | None = None,
    alternate_flip: bool = False,
    scan: bool = False,
) -> Callable:
    """Returns jitted `step(state, sums, images, labels, perm, i) -> (state, sums)`.

    Runs step i of an epoch on examples perm[i*B:(i+1)*B] of the uint8 arrays `images`
    (N, H, W, C) and `labels` (N, ...), which stay on the device; `state` and `sums` are
    donated. The task's `fns.train_batch` turns the gathered batch into (inputs, targets)
    with the step's key fold_in(rng, step) (augmentation, normalisation, mixing, ... inside
    the compiled program), and `fns.loss` scores the outputs. The host calls it once per step
    without waiting for the result. (A `lax.fori_loop` over the steps of an epoch was
    measured 25x slower per step on XLA's CPU backend, jax 0.10.2.)

    With num_replicas K > 1 the signature is `step(state, sums, images, labels, perms, i,
    active)`: state, sums and perms (K, N) carry a leading replica axis, and a replica whose
    `active` entry is False keeps its state and sums. `batch_sharding` splits each gathered
    batch over devices (data parallelism; see the module docstring). `compute_dtype`: see
    cnnjax.train.steps (mixed precision). `ema_decay`: the decay of a state's weight
    average, when it keeps one (`TrainState.ema`); `lookahead`: its slow weights' rule, when
    it keeps them (`TrainState.lookahead`). alternate_flip: the gathered images are mirrored
    in alternate epochs (cnnjax.augment.alternating_flip, coins from fold_in(rng,
    FLIP_COINS)) before the task prepares them. streamed: the batch comes from the host
    (cnnjax.train.stream): `step(state, sums, x, y)`, and with replicas
    `step(state, sums, x, y, active)`, x (K, B, ...).

    scan (in memory only): `steps(state, sums, images, labels, perm, i, [active,] n=n)` runs
    steps i .. i + n - 1 in one compiled `lax.fori_loop` (n static), so that the host
    dispatches once per n steps; the numbers are those of n calls of the step, within float32
    rounding (XLA may fuse the loop's body differently).
    """

    def gathered(state: TrainState, sums: EpochSums, images, labels, perm, i):
        idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
        x = images[idx]
        if alternate_flip:
            epoch = state.step // (perm.shape[-1] // batch_size)
            coins = jax.random.fold_in(state.rng, FLIP_COINS)
            x = augment.alternating_flip(coins, x, idx, epoch)
        return step(state, sums, x, labels[idx])

    def step(state: TrainState, sums: EpochSums, x, y):
        if batch_sharding is not None:
            x = jax.lax.with_sharding_constraint(x, batch_sharding)
            y = jax.lax.with_sharding_constraint(y, batch_sharding)
        inputs, targets = fns.train_batch(jax.random.fold_in(state.rng, state.step), x, y)
        if fns.step is not None:  # a task of its own state (the GAN's)
            new_state, m = fns.step(state, inputs, targets)
        else:
            new_state, m = steps.train_step(
                state, inputs, targets, fns.loss, penalty, compute_dtype, ema_decay, lookahead
            )
        added = {name: sums[name] + m[name] for name in ("loss_sum", *fns.train_sums, "count")}
        sums = {
            **added,
            "penalty_sum": sums["penalty_sum"] + m["penalty"] * m["count"],
            "nonfinite_step": jnp.where(
                (sums["nonfinite_step"] < 0) & ~m["finite"], state.step, sums["nonfinite_step"]
            ),
        }
        return new_state, sums

    one = step if streamed else gathered
    if num_replicas == 1:
        fn = one
    else:
        axes = (0, 0, 0, 0) if streamed else (0, 0, None, None, 0, None)

        def fn(state, sums, *batch_and_active):
            *batch, active = batch_and_active
            new_state, new_sums = map_replicas(one, axes, num_replicas)(state, sums, *batch)
            finite = new_sums["nonfinite_step"] < 0  # (K,): no non-finite loss yet this epoch
            new_state = where_active(active & finite, new_state, state)  # a diverged one freezes
            return new_state, where_active(active, new_sums, sums)

    if not scan:
        return jax.jit(fn, donate_argnums=(0, 1))
    if streamed:
        raise ValueError("scan needs the data on the device; the streamed step reads the host's")

    def steps_from(state, sums, images, labels, perm, i, *active, n: int):
        body = lambda j, carry: fn(*carry, images, labels, perm, i + j, *active)
        return jax.lax.fori_loop(0, n, body, (state, sums))

    return jax.jit(steps_from, donate_argnums=(0, 1), static_argnames="n")


def _batch_sums(fns, batch_sharding, compute_dtype, flip_average, translate_average) -> Callable:
    """(state, (x, y, mask)) -> the task's evaluation sums over one padded batch."""

    def batch_sums(state: TrainState, batch):
        x, y, m = batch
        if batch_sharding is not None:
            x, y, m = (jax.lax.with_sharding_constraint(a, batch_sharding) for a in (x, y, m))
        inputs, targets = fns.eval_batch(x, y)
        if fns.predict is not None:  # a task of its own state (the GAN's)
            return fns.eval_sums(fns.predict(state, inputs), targets, m)
        return steps.eval_step(
            state,
            inputs,
            targets,
            m,
            fns.eval_sums,
            compute_dtype,
            flip_average,
            translate_average,
        )

    return batch_sums


def make_evaluate(
    fns: BatchFns,
    num_replicas: int = 1,
    batch_sharding: jax.sharding.Sharding | None = None,
    compute_dtype: jnp.dtype = jnp.float32,
    flip_average: bool = False,
    streamed: bool = False,
    translate_average: bool = False,
) -> Callable:
    """Returns jitted `evaluate(state, images, labels, mask) -> the task's figures` (at least
    'loss' and 'count') over pre-batched uint8 images (B, b, H, W, C), labels (B, b, ...) and
    mask (B, b): the task's `eval_sums` added over the batches in one `lax.scan`, then its
    `figures`. With num_replicas K > 1 the state and every output carry a leading replica
    axis. flip_average: average each image's outputs with its mirror image's, and with
    translate_average also with one-pixel shifts' (`steps.eval_step`).

    streamed: the batches come from the host (cnnjax.train.stream): returns
    `evaluate(state, batches)`, batches an iterable of padded (x (b, H, W, C), y, mask (b,))
    on the devices, whose sums are added on the device batch by batch (a compiled call each),
    then the figures."""
    batch_sums = _batch_sums(fns, batch_sharding, compute_dtype, flip_average, translate_average)
    if streamed:
        return _streamed_evaluate(fns, batch_sums, num_replicas)

    def evaluate(state: TrainState, images, labels, mask):
        def body(total, batch):
            return jax.tree.map(jnp.add, total, batch_sums(state, batch)), None

        first = jax.tree.map(lambda a: a[0], (images, labels, mask))
        shapes = jax.eval_shape(batch_sums, state, first)
        zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        total, _ = jax.lax.scan(body, zero, (images, labels, mask))
        return fns.figures(total)

    if num_replicas > 1:
        evaluate = map_replicas(evaluate, (0, None, None, None), num_replicas)
    return jax.jit(evaluate)


def _streamed_evaluate(fns: BatchFns, batch_sums: Callable, num_replicas: int) -> Callable:
    """make_evaluate(streamed=True)'s `evaluate(state, batches)`."""

    def add(state, total, batch):
        return jax.tree.map(jnp.add, total, batch_sums(state, batch))

    def zero(state, batch):
        shapes = jax.eval_shape(batch_sums, state, batch)
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    if num_replicas > 1:
        add = map_replicas(add, (0, 0, None), num_replicas)
        zero = map_replicas(zero, (0, None), num_replicas)
    add, zero = jax.jit(add, donate_argnums=(1,)), jax.jit(zero)
    figures = jax.jit(fns.figures if num_replicas == 1 else jax.vmap(fns.figures))

    def evaluate(state, batches):
        total = None
        for batch in batches:
            total = add(state, zero(state, batch) if total is None else total, batch)
        return figures(total)

    return evaluate
