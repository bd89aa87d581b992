"""Loss functions: softmax cross-entropy with label smoothing, and L1/L2 weight penalties.

    data_loss = mean_i CE(softmax(z_i), (1 - eps) * onehot(y_i) + eps / K)
    penalty   = l1 * sum_w |w|  +  l2 * sum_w w^2 / 2

over the penalised leaves w (kernels by default, i.e. parameters named 'kernel'; or all).
The two are reported separately; the optimised loss is their sum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

PENALIZE_CHOICES = ("kernels", "all")


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Per-target softmax cross-entropy, shape labels.shape, for logits labels.shape + (K,) and
    int labels: (N,) per example, or (N, H, W) per pixel."""
    num_classes = logits.shape[-1]
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def _penalised_leaves(params, penalize: str) -> list[jax.Array]:
    if penalize == "all":
        return jax.tree.leaves(params)
    if penalize == "kernels":
        flat = jax.tree_util.tree_flatten_with_path(params)[0]
        return [leaf for path, leaf in flat if getattr(path[-1], "key", None) == "kernel"]
    raise ValueError(f"penalize must be one of {PENALIZE_CHOICES}, got {penalize!r}")


def weight_penalty(
    params, l1: float = 0.0, l2: float = 0.0, penalize: str = "kernels"
) -> jax.Array:
    """l1 * sum |w| + l2 * sum w^2 / 2 over the penalised leaves (a scalar)."""
    leaves = _penalised_leaves(params, penalize)
    total = jnp.zeros((), jnp.float32)
    if l1:
        total += l1 * sum(jnp.sum(jnp.abs(w)) for w in leaves)
    if l2:
        total += 0.5 * l2 * sum(jnp.sum(jnp.square(w)) for w in leaves)
    return total
