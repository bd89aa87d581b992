"""Pooling, local response normalisation and activations against NumPy loops."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layers

TOL = dict(rtol=1e-5, atol=1e-6)


def random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def reference_pool(x, window, strides, padding, reduce):
    """reduce() over the valid (unpadded) elements of each window, NumPy loops."""
    (wh, ww), (sh, sw) = window, strides
    n, h, w, c = x.shape
    if padding == "SAME":
        ho, wo = -(-h // sh), -(-w // sw)
        top = max((ho - 1) * sh + wh - h, 0) // 2
        left = max((wo - 1) * sw + ww - w, 0) // 2
    else:
        ho, wo, top, left = (h - wh) // sh + 1, (w - ww) // sw + 1, 0, 0
    y = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * sh - top, j * sw - left
            patch = x[:, max(r0, 0) : r0 + wh, max(c0, 0) : c0 + ww]
            y[:, i, j] = reduce(patch.reshape(n, -1, c), axis=1)
    return y


POOL_CASES = [
    ((2, 2), (2, 2), "VALID"),
    ((3, 3), (2, 2), "SAME"),
    ((3, 2), (1, 2), "VALID"),
    ((2, 3), (2, 1), "SAME"),
]


@pytest.mark.parametrize("window, strides, padding", POOL_CASES)
def test_pools_match_numpy_loops(window, strides, padding):
    x = random((2, 7, 6, 3), 0)
    for pool, reduce in ((layers.max_pool, np.max), (layers.avg_pool, np.mean)):
        y = pool(x, window, strides, padding)
        np.testing.assert_allclose(y, reference_pool(x, window, strides, padding, reduce), **TOL)


def test_avg_pool_same_does_not_count_padding_unlike_flax_default():
    x = jnp.ones((1, 4, 4, 1))
    np.testing.assert_array_equal(layers.avg_pool(x, 3, 1, "SAME"), x)  # corners average 4 ones
    flax_counted = nn.avg_pool(x, (3, 3), padding="SAME")
    assert float(flax_counted[0, 0, 0, 0]) == pytest.approx(4 / 9)
    flax_valid_only = nn.avg_pool(x, (3, 3), padding="SAME", count_include_pad=False)
    np.testing.assert_allclose(layers.avg_pool(x, 3, 1, "SAME"), flax_valid_only, **TOL)


def test_2x2_max_pool_stride_2_halves_height_and_width():
    assert layers.max_pool(jnp.zeros((2, 8, 6, 3)), (2, 2), (2, 2)).shape == (2, 4, 3, 3)
    assert layers.max_pool(jnp.zeros((2, 8, 6, 3)), 2).shape == (2, 4, 3, 3)  # strides = window


def test_max_pool_gradient_flows_only_to_the_arg_max():
    x = np.random.default_rng(1).permutation(2 * 6 * 4 * 2).reshape(2, 6, 4, 2).astype(np.float32)
    cotangent = random((2, 3, 2, 2), 2)
    grad = jax.grad(lambda x: jnp.sum(layers.max_pool(x, 2) * cotangent))(x)
    expected = np.zeros_like(x)
    for n, i, j, c in np.ndindex(cotangent.shape):
        window = x[n, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, c]
        p, q = np.unravel_index(np.argmax(window), (2, 2))
        expected[n, 2 * i + p, 2 * j + q, c] = cotangent[n, i, j, c]
    np.testing.assert_array_equal(grad, expected)


def test_global_avg_pool():
    x = random((2, 3, 5, 4), 3)
    y = layers.global_avg_pool(x)
    assert y.shape == (2, 4)
    np.testing.assert_allclose(y, x.mean(axis=(1, 2)), **TOL)


def reference_lrn(x, r, k, alpha, beta):
    c = x.shape[-1]
    y = np.zeros_like(x, dtype=np.float64)
    for i in range(c):
        lo, hi = max(0, i - r), min(c - 1, i + r)
        y[..., i] = x[..., i] / (k + alpha * np.sum(x[..., lo : hi + 1] ** 2, axis=-1)) ** beta
    return y


@pytest.mark.parametrize(
    "kwargs", [{}, dict(depth_radius=1, bias=1.0, alpha=0.5, beta=0.5), dict(depth_radius=0)]
)
def test_local_response_norm_matches_numpy_loop(kwargs):
    x = 3 * random((2, 3, 2, 7), 4)
    args = {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4, "beta": 0.75, **kwargs}
    expected = reference_lrn(x, args["depth_radius"], args["bias"], args["alpha"], args["beta"])
    np.testing.assert_allclose(layers.local_response_norm(x, **kwargs), expected, **TOL)


def test_local_response_norm_alpha_is_not_divided_by_the_window_size():
    x = np.zeros((1, 1, 1, 5), np.float32)
    x[..., 2] = 2.0  # a lone activation: b = a / (k + alpha a^2)^beta, whatever the window size
    y = layers.local_response_norm(x, depth_radius=2, bias=1.0, alpha=0.5, beta=1.0)
    np.testing.assert_allclose(y[..., 2], 2.0 / (1.0 + 0.5 * 4.0), **TOL)


@pytest.mark.parametrize("name", sorted(layers.ACTIVATIONS))
def test_every_activation_name_works(name):
    x = jnp.linspace(0.0, 3.0, 7)
    y = layers.activation(name)(x)
    assert y.shape == x.shape and bool(jnp.all(jnp.isfinite(y)))
    assert bool(jnp.all(jnp.diff(y) > 0)), "all of these increase strictly for x >= 0"


def test_activation_values():
    np.testing.assert_allclose(
        layers.activation("scaled_tanh")(jnp.array([1.0, -1.0])), [1.0, -1.0], atol=1e-4
    )
    np.testing.assert_array_equal(layers.activation("relu")(jnp.array([-1.0, 2.0])), [0.0, 2.0])
    x = np.array([-1.5, 0.3, 2.0])
    phi = 0.5 * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))  # x Phi(x), PyTorch's GELU
    np.testing.assert_allclose(layers.activation("gelu_erf")(jnp.asarray(x)), x * phi, rtol=1e-6)


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(
        ValueError,
        match=r"unknown activation 'relu6'; valid names: elu, gelu, gelu_erf, leaky_relu, relu, "
        r"scaled_tanh, sigmoid, swish, tanh",
    ):
        layers.activation("relu6")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: layers.max_pool(jnp.zeros((4, 4, 2)), 2), r"max_pool expects a 4-D NHWC input"),
        (
            lambda: layers.avg_pool(jnp.zeros((1, 4, 4, 2)), 2, padding="full"),
            r"unknown padding 'full'",
        ),
        (lambda: layers.avg_pool(jnp.zeros((1, 4, 4, 2)), 0), r"window must be .*got 0"),
        (
            lambda: layers.max_pool(jnp.zeros((1, 2, 4, 2)), 3),
            r"window spans 3 but the padded input has only 2",
        ),
        (lambda: layers.global_avg_pool(jnp.zeros((4, 2))), r"global_avg_pool expects a 4-D"),
        (
            lambda: layers.local_response_norm(jnp.zeros((1, 4, 4, 2)), depth_radius=-1),
            r"depth_radius must be an int >= 0, got -1",
        ),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "name,variance",
    [
        ("lecun_normal", 1 / 576),  # 1 / fan_in, fan_in = 3 * 3 * 64
        ("he_normal", 2 / 576),
        ("glorot_uniform", 2 / (576 + 3 * 3 * 256)),
        ("small_normal", 1e-4),
    ],
)
def test_initializer_variances(name, variance):
    w = layers.initializer(name)(jax.random.PRNGKey(0), (3, 3, 64, 256))
    assert abs(float(jnp.mean(w))) < 0.05 * variance**0.5
    np.testing.assert_allclose(float(jnp.var(w)), variance, rtol=0.03)


def test_unknown_initializer_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown initializer 'xavier'; valid names: glorot"):
        layers.initializer("xavier")


def test_non_overlapping_pools_are_a_reshape_not_reduce_window():
    """2x2/2 pooling (any size: VALID drops the odd last row) takes the reshape path, whose
    values equal XLA's reduce_window; overlapping windows keep reduce_window."""
    x = random((2, 7, 6, 3), 4)
    for pool, reducer, init in (
        (layers.max_pool, jax.lax.max, -jnp.inf),
        (layers.avg_pool, jax.lax.add, 0.0),
    ):
        assert "reduce_window" not in str(jax.make_jaxpr(lambda x: pool(x, 2))(x))
        window = jax.lax.reduce_window(x, init, reducer, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        expected = window if pool is layers.max_pool else window / 4
        np.testing.assert_allclose(pool(x, 2), expected, **TOL)
    assert "reduce_window" in str(jax.make_jaxpr(lambda x: layers.max_pool(x, 3, 2))(x))


def test_max_pool_gradient_splits_between_tied_maxima():
    x = jnp.zeros((1, 2, 2, 1)).at[0, 1, 1, 0].set(-1.0)  # three tied maxima (0) and a -1
    grad = jax.grad(lambda x: jnp.sum(layers.max_pool(x, 2)))(x)
    np.testing.assert_allclose(grad[0, :, :, 0], [[1 / 3, 1 / 3], [1 / 3, 0.0]], rtol=1e-6)
