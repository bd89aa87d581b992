"""AlexNet's local response normalisation across channels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.layers.padding import _check_nhwc


def local_response_norm(
    x: jax.Array,
    depth_radius: int = 2,
    bias: float = 2.0,
    alpha: float = 1e-4,
    beta: float = 0.75,
) -> jax.Array:
    """AlexNet's local response normalisation across channels (Krizhevsky et al., 2012).

    With r = depth_radius (AlexNet: n = 2r + 1 = 5 adjacent maps), k = bias, and C channels:

        b_c = a_c / (k + alpha * sum_{c' = max(0, c - r)}^{min(C - 1, c + r)} a_{c'}^2)^beta

    per pixel of an NHWC x. Convention: AlexNet's and TensorFlow's
    (tf.nn.local_response_normalization): alpha multiplies the plain sum of squares, it is
    NOT divided by the window size n. PyTorch's nn.LocalResponseNorm(size=n) divides it by n
    (and always by n, also where the window is cut at the edges); for its alpha use
    alpha_torch / (2 * depth_radius + 1). Defaults are AlexNet's k=2, n=5, alpha=1e-4, beta=0.75.
    """
    _check_nhwc(x, "local_response_norm")
    if not isinstance(depth_radius, int) or depth_radius < 0:
        raise ValueError(f"depth_radius must be an int >= 0, got {depth_radius!r}")
    r = depth_radius
    sums = lax.reduce_window(
        jnp.square(x), 0.0, lax.add, (1, 1, 1, 2 * r + 1), (1, 1, 1, 1), ((0, 0),) * 3 + ((r, r),)
    )
    return x / (bias + alpha * sums) ** beta
