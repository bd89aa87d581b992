"""experiments/onednn: oneDNN convolutions through XLA's FFI agree with conv2d(impl='xla').

Skipped unless experiments/onednn/build.sh has built the library and libdnnl loads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers.conv import conv2d
from experiments.onednn import onednn_conv

if not onednn_conv.available():
    pytest.skip(
        "oneDNN convolutions not built (apt-get install libdnnl-dev; experiments/onednn/build.sh)",
        allow_module_level=True,
    )

# (input shape, kernel shape, strides, padding, dilation)
CASES = [
    ((2, 9, 9, 5), (3, 3, 5, 7), 1, "SAME", 1),
    ((2, 9, 10, 5), (3, 3, 5, 8), 2, "SAME", 1),
    ((2, 10, 9, 4), (3, 2, 4, 6), 1, "VALID", 2),
    ((3, 11, 9, 3), (5, 5, 3, 4), (2, 1), ((1, 2), (0, 3)), (2, 1)),
    ((2, 8, 8, 16), (1, 1, 16, 32), 2, "SAME", 1),
    ((2, 28, 28, 1), (5, 5, 1, 6), 1, "SAME", 1),
]


def assert_close(actual, expected):
    scale = float(jnp.max(jnp.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CASES)
def test_values_and_gradients_match_xla(x_shape, k_shape, strides, padding, dilation):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x, k = jax.random.normal(keys[0], x_shape), jax.random.normal(keys[1], k_shape)
    ours = jax.jit(lambda x, k: onednn_conv.onednn_conv2d(x, k, strides, padding, dilation))
    xla = lambda x, k: conv2d(x, k, strides=strides, padding=padding, dilation=dilation, impl="xla")
    y, ours_vjp = jax.vjp(ours, x, k)
    y_ref, xla_vjp = jax.vjp(xla, x, k)
    assert y.shape == y_ref.shape
    assert_close(y, y_ref)
    dy = jax.random.normal(keys[2], y.shape)
    for grad, grad_ref in zip(ours_vjp(dy), xla_vjp(dy)):
        assert_close(grad, grad_ref)


def test_refuses_groups_and_other_dtypes():
    x, k = jnp.ones((1, 6, 6, 4)), jnp.ones((3, 3, 2, 4))
    with pytest.raises(ValueError, match="groups = 1"):
        onednn_conv.onednn_conv(x, k, ((1, 1), ((1, 1), (1, 1)), (1, 1), 2), (6, 6))
    with pytest.raises(ValueError, match="float32"):
        onednn_conv.onednn_conv2d(x.astype(jnp.bfloat16), jnp.ones((3, 3, 4, 4)))
