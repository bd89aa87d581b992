"""Pure, jit-compilable training and evaluation steps.

    train_step(state, images, labels, loss_config) -> (state, metrics)
    eval_step(state, images, labels, mask) -> metrics
    regression_step(state, inputs, targets, l2) -> (state, mse)   (regression, images out)

Images arrive normalised (float32 NHWC). Labels are one class per image (B,) int32, or one per
pixel (B, H, W) int32 for a per-pixel model (logits (B, H, W, K)): the sums below then run over
pixels, and `count` counts the labelled targets (B, or B*H*W).

Mixed precision: with `compute_dtype` bfloat16 (or float16) the forward and backward passes
run on a copy of the params and images cast to it, while the params, their gradients, the
optimizer state and the batch-norm running statistics stay float32 and the loss is computed
from float32 logits. Metrics are per-batch sums (so that
epochs add them up exactly): `loss_sum` (data loss summed over targets), `correct`, `count`,
and for training `penalty` (the weight penalty of the params before the update) and `finite`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from cnnjax import losses, metrics
from cnnjax.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Hyper-parameters of the training objective (hashable: a static argument under jit)."""

    label_smoothing: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    penalize: str = "kernels"


def cast_floats(tree, dtype):
    """Every floating-point leaf of `tree` cast to `dtype` (integer leaves untouched)."""
    cast = lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(cast, tree)


def train_step(
    state: TrainState,
    images: jax.Array,
    labels: jax.Array,
    loss_config: LossConfig,
    compute_dtype: jnp.dtype = jnp.float32,
    labels_b: jax.Array | None = None,
    lam: jax.Array | None = None,
    ema_decay: float = 0.0,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer step on a batch: images (B, H, W, C) float32, labels (B,) or (B, H, W)
    int32; the data loss is the mean over the targets. With `labels_b` and `lam` (mixup or
    CutMix, cnnjax.mixing) each target's loss is lam CE(y) + (1 - lam) CE(y_b), and `correct`
    counts lam for a prediction of y and 1 - lam for one of y_b. A state keeping an EMA of
    its weights (`state.ema`) updates it after the step: ema = d ema + (1 - d) w, d =
    `ema_decay`, for the params and the batch-norm statistics alike."""
    dropout_key = jax.random.fold_in(state.rng, state.step)
    mutable = ["batch_stats"] if state.batch_stats else []

    def objective(params):
        logits, updates = state.apply_fn(
            state.variables(cast_floats(params, compute_dtype)),
            images.astype(compute_dtype),
            train=True,
            rngs={"dropout": dropout_key},
            mutable=mutable,
        )
        logits = logits.astype(jnp.float32)
        updates = cast_floats(updates, jnp.float32)
        data_loss = losses.cross_entropy(logits, labels, loss_config.label_smoothing)
        if labels_b is not None:
            other = losses.cross_entropy(logits, labels_b, loss_config.label_smoothing)
            data_loss = lam * data_loss + (1 - lam) * other
        penalty = losses.weight_penalty(
            params, loss_config.l1, loss_config.l2, loss_config.penalize
        )
        return jnp.mean(data_loss) + penalty, (data_loss, penalty, logits, updates)

    grads, (data_loss, penalty, logits, updates) = jax.grad(objective, has_aux=True)(state.params)
    step_updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    step_updates = jax.tree.map(lambda u: state.plateau.scale * u, step_updates)
    new_state = state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, step_updates),
        batch_stats=updates.get("batch_stats", state.batch_stats),
        opt_state=opt_state,
    )
    if state.ema is not None:
        weights = {"params": new_state.params, "batch_stats": new_state.batch_stats}
        average = lambda e, w: ema_decay * e + (1 - ema_decay) * w
        new_state = new_state.replace(ema=jax.tree.map(average, state.ema, weights))
    loss_sum = jnp.sum(data_loss)
    predicted = jnp.argmax(logits, -1)
    hits = (predicted == labels).astype(jnp.float32)
    if labels_b is not None:
        hits = lam * hits + (1 - lam) * (predicted == labels_b)
    metrics = {
        "loss_sum": loss_sum,
        "penalty": penalty,
        "correct": jnp.sum(hits),
        "count": jnp.asarray(labels.size, jnp.float32),
        "finite": jnp.isfinite(loss_sum + penalty),
    }
    return new_state, metrics


def eval_step(
    state: TrainState,
    images: jax.Array,
    labels: jax.Array,
    mask: jax.Array,
    compute_dtype: jnp.dtype = jnp.float32,
    flip_average: bool = False,
) -> dict[str, jax.Array]:
    """Masked sums of the data loss and of correct predictions over the targets, and the
    confusion matrix (C, C) int32 (true class i predicted as j); mask (B,) is 1 for real
    examples (padding of the last batch is 0).

    flip_average: test-time augmentation with horizontal flips: the logits are
    (f(x) + f(flip(x))) / 2, flip mirroring the width axis of NHWC images (B, H, W, C)."""
    if flip_average and images.ndim != 4:
        raise ValueError(f"flip_average needs NHWC images (B, H, W, C), got shape {images.shape}")
    variables = {**state.variables(), "params": cast_floats(state.params, compute_dtype)}
    forward = lambda x: state.apply_fn(variables, x.astype(compute_dtype), train=False)
    logits = forward(images).astype(jnp.float32)
    if flip_average:
        logits = (logits + forward(images[:, :, ::-1]).astype(jnp.float32)) / 2
    data_loss = losses.cross_entropy(logits, labels)
    mask = jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (labels.ndim - 1)), labels.shape)
    predictions = jnp.argmax(logits, -1)
    return {
        "loss_sum": jnp.sum(data_loss * mask),
        "correct": jnp.sum((predictions == labels) * mask),
        "count": jnp.sum(mask),
        "confusion": metrics.confusion_matrix(predictions, labels, logits.shape[-1], mask),
    }


def regression_step(
    state: TrainState, inputs: jax.Array, targets: jax.Array, l2: float = 0.0
) -> tuple[TrainState, jax.Array]:
    """One optimizer step on the mean squared error of a regression model: outputs of the
    targets' shape, e.g. (B, H, W, C) images, or (B, 1) for targets (B,) (one-output models).
    Loss = mean((f(x) - y)^2) + l2 * sum(kernel^2) / 2. Returns the new state and the batch's
    mean squared error. Dropout key: fold_in(rng, step)."""
    dropout_key = jax.random.fold_in(state.rng, state.step)

    def objective(params):
        out = state.apply_fn({"params": params}, inputs, train=True, rngs={"dropout": dropout_key})
        if out.shape == (*targets.shape, 1):
            out = out[..., 0]
        if out.shape != targets.shape:
            raise ValueError(f"regression_step: outputs {out.shape} but targets {targets.shape}")
        mse = jnp.mean(jnp.square(out - targets))
        return mse + losses.weight_penalty(params, 0.0, l2, "kernels"), mse

    grads, mse = jax.grad(objective, has_aux=True)(state.params)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    return state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        opt_state=opt_state,
    ), mse
