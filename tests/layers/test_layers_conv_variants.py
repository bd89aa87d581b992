"""SeparableConv2D, Conv1x1 and the transposed convolution (conv_transpose2d, ConvTranspose2D)."""

from fractions import Fraction

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layers

TOL = dict(rtol=1e-5, atol=1e-5)


def random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def param_shapes(module, shape):
    variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), jnp.zeros(shape)))
    return jax.tree.map(lambda leaf: leaf.shape, variables["params"])


def count(shapes):
    return sum(
        int(np.prod(s)) for s in jax.tree.leaves(shapes, is_leaf=lambda s: isinstance(s, tuple))
    )


@pytest.mark.parametrize("multiplier, use_bias", [(1, False), (1, True), (2, True)])
def test_separable_conv_parameter_count(multiplier, use_bias):
    k, c_in, c_out = 3, 3, 8
    module = layers.SeparableConv2D(c_out, (k, k), depth_multiplier=multiplier, use_bias=use_bias)
    shapes = param_shapes(module, (1, 6, 6, c_in))
    assert shapes["depthwise"] == {"kernel": (k, k, 1, multiplier * c_in)}
    assert shapes["pointwise"]["kernel"] == (1, 1, multiplier * c_in, c_out)
    expected = k * k * c_in * multiplier + multiplier * c_in * c_out + (c_out if use_bias else 0)
    assert count(shapes) == expected  # 27 + 24 = 51 for m = 1 without bias
    if multiplier == 1 and not use_bias:
        full = count(param_shapes(layers.Conv2D(c_out, (k, k), use_bias=False), (1, 6, 6, c_in)))
        assert Fraction(count(shapes), full) == Fraction(1, c_out) + Fraction(1, k * k)


def test_separable_conv_is_depthwise_then_pointwise():
    x = random((2, 6, 5, 3), 0)
    params = {
        "depthwise": {"kernel": random((3, 3, 1, 6), 1)},
        "pointwise": {"kernel": random((1, 1, 6, 4), 2), "bias": random((4,), 3)},
    }
    depthwise = layers.conv2d(x, params["depthwise"]["kernel"], strides=2, groups=3)
    expected = layers.conv2d(depthwise, params["pointwise"]["kernel"]) + params["pointwise"]["bias"]
    module = layers.SeparableConv2D(4, (3, 3), strides=2, depth_multiplier=2)
    np.testing.assert_allclose(module.apply({"params": params}, x), expected, **TOL)


@pytest.mark.parametrize("impl", layers.CONV_IMPLS)
def test_1x1_conv_is_a_dense_layer_at_every_pixel(impl):
    x, kernel, bias = random((2, 4, 5, 3), 4), random((1, 1, 3, 6), 5), random((6,), 6)
    conv = {"params": {"kernel": kernel, "bias": bias}}
    dense = {"params": {"kernel": kernel[0, 0], "bias": bias}}
    y = jax.jit(layers.Conv1x1(6, impl=impl).apply)(conv, x)
    np.testing.assert_allclose(y, nn.Dense(6).apply(dense, x), **TOL)
    strided = jax.jit(layers.Conv1x1(6, strides=2, impl=impl).apply)(conv, x)
    np.testing.assert_allclose(strided, nn.Dense(6).apply(dense, x[:, ::2, ::2]), **TOL)


def test_1x1_conv_kernel_size_is_fixed():
    assert param_shapes(layers.Conv1x1(6), (1, 4, 4, 3)) == {"kernel": (1, 1, 3, 6), "bias": (6,)}
    with pytest.raises(TypeError, match="kernel_size"):
        layers.Conv1x1(6, kernel_size=(3, 3))


def test_transposed_conv_with_stride_2_and_same_doubles_height_and_width():
    module = layers.ConvTranspose2D(5, (3, 3), strides=2)
    assert param_shapes(module, (1, 4, 3, 2)) == {"kernel": (3, 3, 5, 2), "bias": (5,)}
    out = jax.eval_shape(
        lambda: module.init_with_output(jax.random.PRNGKey(0), jnp.zeros((1, 4, 3, 2)))
    )
    assert out[0].shape == (1, 8, 6, 5)
    valid = jax.eval_shape(
        lambda: layers.conv_transpose2d(
            jnp.zeros((1, 4, 3, 2)), jnp.zeros((3, 3, 5, 2)), strides=2, padding="VALID"
        )
    )
    assert valid.shape == (1, 9, 7, 5)  # (H - 1) * stride + k


# (padding, stride, dilation, input size): odd and even sizes, where stride > 1 leaves input
# rows the forward conv never reaches; the explicit output_size picks that input size.
ADJOINT_CASES = [
    ("SAME", 2, 1, (8, 6)),
    ("SAME", 3, 2, (7, 8)),
    ("VALID", 1, 2, (7, 6)),
    ("VALID", 2, 1, (8, 7)),
    (((0, 1), (2, 2)), 3, 2, (9, 8)),
]


@pytest.mark.parametrize("padding, stride, dilation, size", ADJOINT_CASES)
def test_transposed_conv_is_the_adjoint_of_the_strided_conv(padding, stride, dilation, size):
    x, kernel = random((2, *size, 3), 7), random((3, 2, 3, 4), 8)

    def forward(x):
        return layers.conv2d(x, kernel, strides=stride, padding=padding, dilation=dilation)

    y_x, vjp = jax.vjp(forward, x)
    y = random(y_x.shape, 9)
    kwargs = dict(strides=stride, padding=padding, dilation=dilation, output_size=size)
    transposed = layers.conv_transpose2d(y, kernel, **kwargs)
    np.testing.assert_allclose(transposed, vjp(y)[0], **TOL)  # exactly the transpose
    np.testing.assert_allclose(jnp.vdot(y_x, y), jnp.vdot(x, transposed), rtol=1e-5)


def test_transposed_conv_default_size_is_the_adjoint_too():
    y, kernel = random((1, 3, 4, 2), 10), random((3, 3, 5, 2), 11)
    for padding, size in (("SAME", (6, 8)), ("VALID", (7, 9))):
        _, vjp = jax.vjp(
            lambda x: layers.conv2d(x, kernel, strides=2, padding=padding), jnp.zeros((1, *size, 5))
        )
        transposed = layers.conv_transpose2d(y, kernel, strides=2, padding=padding)
        np.testing.assert_allclose(transposed, vjp(y)[0], **TOL)


def test_transposed_conv_module_adds_its_bias():
    x, kernel, bias = random((1, 3, 3, 2), 12), random((2, 2, 4, 2), 13), random((4,), 14)
    module = layers.ConvTranspose2D(4, (2, 2), strides=2)
    y = module.apply({"params": {"kernel": kernel, "bias": bias}}, x)
    np.testing.assert_allclose(y, layers.conv_transpose2d(x, kernel, strides=2) + bias, **TOL)


def test_transposed_conv_bad_input():
    y = jnp.zeros((1, 4, 4, 2))
    with pytest.raises(
        ValueError, match=r"size \(9, 9\) has size \(5, 5\), not the given \(4, 4\)"
    ):
        layers.conv_transpose2d(y, jnp.zeros((3, 3, 5, 2)), strides=2, output_size=9)
    with pytest.raises(
        ValueError, match=r"kernel \(kh, kw, C_out, C_in=2\), got shape \(3, 3, 2, 5\)"
    ):
        layers.conv_transpose2d(y, jnp.zeros((3, 3, 2, 5)))
    with pytest.raises(ValueError, match=r"unknown padding 'full'"):
        layers.conv_transpose2d(y, jnp.zeros((3, 3, 5, 2)), padding="full")
    with pytest.raises(ValueError, match=r"SeparableConv2D expects a 4-D NHWC input"):
        layers.SeparableConv2D(4, (3, 3)).init(jax.random.PRNGKey(0), jnp.zeros((4, 4, 2)))
