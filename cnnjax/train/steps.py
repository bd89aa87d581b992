"""Pure, jit-compilable training and evaluation steps, one family for every task.

    train_step(state, inputs, targets, loss_fn, penalty) -> (state, metrics)
    eval_step(state, inputs, targets, mask, sums_fn) -> sums

A task (cnnjax.tasks) supplies the batch and what is measured on it: `loss_fn(outputs,
targets) -> (per-target losses, {name: sum})` and `sums_fn(outputs, targets, mask) -> {name:
sum}`; `inputs` is what the model reads, `targets` any pytree the task's functions read.

Mixed precision: with `compute_dtype` bfloat16 (or float16) the forward and backward passes
run on a copy of the params and inputs cast to it, while the params, their gradients, the
optimizer state and the batch-norm running statistics stay float32 and the loss is computed
from float32 outputs. Metrics are per-batch sums (so that epochs add them up exactly):
`loss_sum` (data loss summed over targets), `count` (the number of targets), the task's sums,
and for training `penalty` (the weight penalty of the params before the update) and `finite`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from cnnjax import losses
from cnnjax.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class Penalty:
    """The weight penalty added to every task's objective (hashable: static under jit):
    l1 sum |w| + l2 sum w^2 / 2 over the kernels (penalize='kernels') or all params."""

    l1: float = 0.0
    l2: float = 0.0
    penalize: str = "kernels"


@dataclasses.dataclass(frozen=True)
class Lookahead:
    """Lookahead with a growing average (airbench; hashable: static under jit). After step t
    (1-based) of `total_steps`, when t is a multiple of `every`:
        slow = a slow + (1 - a) w,  a = decay (t / total_steps) ** power,  w = slow
    for the params and batch-norm statistics alike, and after the last step w = slow."""

    every: int
    decay: float
    power: float
    total_steps: int

    def __call__(self, slow, weights, t: jax.Array):
        """(new slow weights, new weights) after step t."""
        periodic = t % self.every == 0
        fraction = t.astype(jnp.float32) / self.total_steps
        a = jnp.where(periodic, self.decay * fraction**self.power, 1.0)
        sync = periodic | (t >= self.total_steps)
        moved = jax.tree.map(lambda s, w: jnp.where(sync, a * s + (1 - a) * w, s), slow, weights)
        return moved, jax.tree.map(lambda s, w: jnp.where(sync, s, w), moved, weights)


def cast_floats(tree, dtype):
    """Every floating-point leaf of `tree` cast to `dtype` (integer leaves untouched)."""
    cast = lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(cast, tree)


def train_step(
    state: TrainState,
    inputs: jax.Array,
    targets: Any,
    loss_fn: Callable,
    penalty: Penalty = Penalty(),
    compute_dtype: jnp.dtype = jnp.float32,
    ema_decay: float = 0.0,
    lookahead: Lookahead | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer step on a batch: objective = mean over targets of loss_fn's per-target
    losses + the weight penalty of the params. Dropout key: fold_in(rng, step). A state
    keeping an EMA of its weights (`state.ema`) updates it after the step: ema = d ema +
    (1 - d) w, d = `ema_decay`, for the params and the batch-norm statistics alike; one
    keeping lookahead's slow weights (`state.lookahead`) applies `lookahead` first."""
    dropout_key = jax.random.fold_in(state.rng, state.step)
    mutable = ["batch_stats"] if state.batch_stats else []

    def objective(params):
        outputs, updates = state.apply_fn(
            state.variables(cast_floats(params, compute_dtype)),
            inputs.astype(compute_dtype),
            train=True,
            rngs={"dropout": dropout_key},
            mutable=mutable,
        )
        outputs = outputs.astype(jnp.float32)
        updates = cast_floats(updates, jnp.float32)
        data_loss, sums = loss_fn(outputs, targets)
        weights = losses.weight_penalty(params, penalty.l1, penalty.l2, penalty.penalize)
        return jnp.mean(data_loss) + weights, (data_loss, weights, sums, updates)

    grads, (data_loss, weights, sums, updates) = jax.grad(objective, has_aux=True)(state.params)
    step_updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    step_updates = jax.tree.map(lambda u: state.plateau.scale * u, step_updates)
    new_state = state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, step_updates),
        batch_stats=updates.get("batch_stats", state.batch_stats),
        opt_state=opt_state,
    )
    if state.lookahead is not None:
        fast = {"params": new_state.params, "batch_stats": new_state.batch_stats}
        slow, fast = lookahead(state.lookahead, fast, new_state.step)
        new_state = new_state.replace(lookahead=slow, **fast)
    if state.ema is not None:
        ema_weights = {"params": new_state.params, "batch_stats": new_state.batch_stats}
        average = lambda e, w: ema_decay * e + (1 - ema_decay) * w
        new_state = new_state.replace(ema=jax.tree.map(average, state.ema, ema_weights))
    loss_sum = jnp.sum(data_loss)
    metrics = {
        "loss_sum": loss_sum,
        "penalty": weights,
        "count": jnp.asarray(data_loss.size, jnp.float32),
        "finite": jnp.isfinite(loss_sum + weights),
        **sums,
    }
    return new_state, metrics


def eval_step(
    state: TrainState,
    inputs: jax.Array,
    targets: Any,
    mask: jax.Array,
    sums_fn: Callable,
    compute_dtype: jnp.dtype = jnp.float32,
    flip_average: bool = False,
    translate_average: bool = False,
) -> dict[str, jax.Array]:
    """sums_fn(outputs, targets, mask) of the model's outputs on a batch; mask (B,) is 1 for
    real examples (padding of the last batch is 0).

    flip_average: test-time augmentation with horizontal flips: the outputs are
    m(x) = (f(x) + f(flip(x))) / 2, flip mirroring the width axis of NHWC images (B, H, W, C)
    (for outputs that do not move with the image: class logits). translate_average (with
    flip_average): m(x) / 2 + (m(x_a) + m(x_b)) / 4, x_a and x_b the image shifted by one
    pixel down-right and up-left, x_a = p[:, :H, :W] and x_b = p[:, 2:, 2:] of x
    reflect-padded by one pixel p (airbench's level-2 test-time augmentation)."""
    if flip_average and inputs.ndim != 4:
        raise ValueError(f"flip_average needs NHWC images (B, H, W, C), got shape {inputs.shape}")
    variables = {**state.variables(), "params": cast_floats(state.params, compute_dtype)}
    forward = lambda x: state.apply_fn(variables, x.astype(compute_dtype), train=False)
    outputs = forward(inputs).astype(jnp.float32)
    if flip_average:
        mirrored = lambda x, fx: (fx + forward(x[:, :, ::-1]).astype(jnp.float32)) / 2
        outputs = mirrored(inputs, outputs)
        if translate_average:
            h, w = inputs.shape[1:3]
            p = jnp.pad(inputs, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
            shifted = [p[:, :h, :w], p[:, 2:, 2:]]
            views = [mirrored(x, forward(x).astype(jnp.float32)) for x in shifted]
            outputs = outputs / 2 + (views[0] + views[1]) / 4
    return sums_fn(outputs, targets, mask)
