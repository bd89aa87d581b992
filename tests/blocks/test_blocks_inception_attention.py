"""Inception, Xception, attention and highway blocks: shapes, parameter arithmetic, limits."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.blocks import attention, highway, inception, xception
from cnnjax.layers import Conv2D


def init_shapes(module, shape):
    """Parameter shapes of `module` on an input of `shape`, without computing anything."""
    variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), jnp.zeros(shape)))
    return variables["params"]


def count(params):
    return sum(x.size for x in jax.tree.leaves(params))


def kernels(params):
    """Number of weights in the kernels (no biases, no norm parameters)."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return sum(leaf.size for path, leaf in flat if path[-1].key == "kernel")


X = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 5, 8))


# --- Inception ---------------------------------------------------------------------------------


def test_reduction_arithmetic():
    # 3x3 branch 256 -> 192 directly, and through a 1x1 reduction to 64.
    direct = init_shapes(inception.ConvNormAct(192, (3, 3)), (1, 4, 4, 256))
    assert kernels(direct) == 3 * 3 * 256 * 192 == 442_368
    v1 = inception.InceptionV1(f1=1, f3r=64, f3=192, f5r=1, f5=1, pool_proj=1)
    p = init_shapes(v1, (1, 4, 4, 256))
    assert kernels(p["b3x3_reduce"]) + kernels(p["b3x3"]) == 1 * 1 * 256 * 64 + 3 * 3 * 64 * 192
    assert kernels(p["b3x3_reduce"]) + kernels(p["b3x3"]) == 126_976


def test_factorised_5x5_has_18_25ths_of_the_weights():
    c = 16
    v1 = init_shapes(
        inception.InceptionV1(f1=1, f3r=1, f3=1, f5r=c, f5=c, pool_proj=1), (1, 5, 5, c)
    )
    v2 = init_shapes(
        inception.InceptionV2(f1=1, f3r=1, f3=1, d3r=c, d3=c, pool_proj=1), (1, 5, 5, c)
    )
    five = kernels(v1["b5x5"])
    two_threes = kernels(v2["d3x3_a"]) + kernels(v2["d3x3_b"])
    assert (five, two_threes) == (25 * c * c, 18 * c * c)
    assert two_threes / five == pytest.approx(18 / 25)


def test_inception_v3_asymmetric_kernels():
    n, c = 5, 4
    block = inception.InceptionV3(f1=1, fnr=c, fn=c, dnr=c, dn=c, pool_proj=1, n=n)
    p = init_shapes(block, (1, 6, 6, c))
    assert p["bnxn_1xn"]["conv"]["kernel"].shape == (1, n, c, c)
    assert p["bnxn_nx1"]["conv"]["kernel"].shape == (n, 1, c, c)
    assert kernels(p["bnxn_1xn"]) + kernels(p["bnxn_nx1"]) == 2 * n * c * c  # against n*n*c*c


@pytest.mark.parametrize(
    "block, channels",
    [
        (inception.InceptionNaive(f1=3, f3=4, f5=5), 3 + 4 + 5 + 8),
        (inception.InceptionV1(f1=3, f3r=2, f3=4, f5r=2, f5=5, pool_proj=6), 3 + 4 + 5 + 6),
        (inception.InceptionV2(f1=3, f3r=2, f3=4, d3r=2, d3=5, pool_proj=6), 3 + 4 + 5 + 6),
        (inception.InceptionV3(f1=3, fnr=2, fn=4, dnr=2, dn=5, pool_proj=6, n=3), 3 + 4 + 5 + 6),
    ],
)
def test_branches_concatenate_along_channels(block, channels):
    y, _ = block.init_with_output(jax.random.PRNGKey(0), X)
    assert y.shape == (2, 5, 5, channels)


def test_v1_branch_order_and_values():
    # The 1x1 branch is first: its channels are the first f1 of the output.
    block = inception.InceptionV1(f1=3, f3r=2, f3=4, f5r=2, f5=5, pool_proj=6)
    y, variables = block.init_with_output(jax.random.PRNGKey(0), X)
    b1 = inception.ConvNormAct(3, (1, 1)).apply({"params": variables["params"]["b1x1"]}, X)
    np.testing.assert_allclose(y[..., :3], b1, rtol=1e-6)


def test_grid_reduction_halves_and_concatenates():
    block = inception.InceptionReduction(f3r=2, f3=4, d3r=2, d3=5)
    y, _ = block.init_with_output(jax.random.PRNGKey(0), X)
    assert y.shape == (2, 3, 3, 4 + 5 + 8)


def test_blocks_take_their_conv_and_norm():
    norm = functools.partial(nn.BatchNorm, use_running_average=False)
    conv = functools.partial(Conv2D, impl="im2col")
    block = inception.InceptionV1(conv, norm, nn.relu, 3, 2, 4, 2, 5, 6)
    y, variables = block.init_with_output(jax.random.PRNGKey(0), X)
    assert "batch_stats" in variables and "bias" not in variables["params"]["b1x1"]["conv"]
    reference = inception.InceptionV1(Conv2D, norm, nn.relu, 3, 2, 4, 2, 5, 6)
    y_xla, _ = reference.apply(variables, X, mutable=["batch_stats"])
    np.testing.assert_allclose(y, y_xla, atol=1e-5)


def test_xception_block_shapes_and_shortcut():
    bn = functools.partial(nn.BatchNorm, use_running_average=True)
    down = xception.XceptionBlock((6, 12), strides=2, norm=bn)
    y, variables = down.init_with_output(jax.random.PRNGKey(0), X)
    assert y.shape == (2, 3, 3, 12) and "shortcut" in variables["params"]
    # Separable 3x3 8 -> 6: 9*8 + 8*6 weights, no bias.
    assert count(variables["params"]["sepconv0"]) == 9 * 8 + 8 * 6
    keep = xception.XceptionBlock((8, 8, 8), norm=bn)
    y, variables = keep.init_with_output(jax.random.PRNGKey(0), X)
    assert y.shape == X.shape and "shortcut" not in variables["params"]


# --- Attention ---------------------------------------------------------------------------------


MODULES = [attention.SqueezeExcite(reduction=4), attention.CBAM(reduction=4), attention.ECA()]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: type(m).__name__)
def test_attention_keeps_the_shape(module):
    y, _ = module.init_with_output(jax.random.PRNGKey(0), X)
    assert y.shape == X.shape


def zero(params, *names):
    """`params` with the kernels of the named submodules set to zero."""
    params = jax.tree.map(lambda p: p, params)
    for name in names:
        params[name]["kernel"] = jnp.zeros_like(params[name]["kernel"])
    return params


@pytest.mark.parametrize(
    "module, final, scale",
    [
        (attention.SqueezeExcite(reduction=4), ("expand",), 0.5),
        (attention.ECA(), ("conv",), 0.5),
        # Channel attention 0.5, then spatial attention 0.5.
        (attention.CBAM(reduction=4), ("expand", "spatial"), 0.25),
    ],
    ids=["se", "eca", "cbam"],
)
def test_zero_final_weights_give_half_attention(module, final, scale):
    params = module.init(jax.random.PRNGKey(0), X)["params"]
    y = module.apply({"params": zero(params, *final)}, X)
    np.testing.assert_allclose(y, scale * X, rtol=1e-6)


def test_se_parameter_count():
    c, r = 32, 4
    params = init_shapes(attention.SqueezeExcite(reduction=r), (1, 2, 2, c))
    assert count(params) == 2 * c * c // r + c // r + c


def test_cbam_parameter_count():
    c, r, k = 32, 4, 7
    params = init_shapes(attention.CBAM(reduction=r, spatial_kernel=k), (1, 2, 2, c))
    assert count(params) == 2 * c * c // r + c // r + c + 2 * k * k + 1


@pytest.mark.parametrize("channels, k", [(8, 3), (64, 3), (256, 5), (512, 5)])
def test_eca_adaptive_kernel_and_parameter_count(channels, k):
    assert attention.eca_kernel_size(channels) == k
    assert count(init_shapes(attention.ECA(), (1, 2, 2, channels))) == k
    assert count(init_shapes(attention.ECA(kernel_size=7), (1, 2, 2, channels))) == 7


def test_eca_is_a_1d_conv_across_channels():
    module = attention.ECA(kernel_size=3)
    w = jnp.array([1.0, 2.0, 3.0])
    x = jax.random.normal(jax.random.PRNGKey(2), (1, 2, 2, 5))
    y = module.apply({"params": {"conv": {"kernel": w[:, None, None]}}}, x)
    s = jnp.pad(x.mean(axis=(1, 2))[0], 1)
    a = jax.nn.sigmoid(jnp.array([w @ s[i : i + 3] for i in range(5)]))
    np.testing.assert_allclose(y, x * a, rtol=1e-5)


# --- Highway -----------------------------------------------------------------------------------


def test_highway_dense_with_a_closed_gate_is_the_identity():
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 16))
    layer = highway.HighwayDense(gate_bias=-50.0)
    y, _ = layer.init_with_output(jax.random.PRNGKey(0), x)
    np.testing.assert_allclose(y, x, atol=1e-6)
    # The gate's bias starts at gate_bias; 2*(D*D + D) parameters.
    params = highway.HighwayDense(gate_bias=-2.0).init(jax.random.PRNGKey(0), x)["params"]
    np.testing.assert_array_equal(params["gate"]["bias"], -2.0)
    assert count(params) == 2 * (16 * 16 + 16)


def test_highway_dense_formula():
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 4))
    layer = highway.HighwayDense(act=jnp.tanh)
    y, variables = layer.init_with_output(jax.random.PRNGKey(0), x)
    p = variables["params"]
    h = jnp.tanh(x @ p["transform"]["kernel"] + p["transform"]["bias"])
    t = jax.nn.sigmoid(x @ p["gate"]["kernel"] + p["gate"]["bias"])
    np.testing.assert_allclose(y, h * t + x * (1 - t), rtol=1e-5)


def test_highway_conv_identity_shape_and_count():
    layer = highway.HighwayConv(gate_bias=-50.0)
    y, variables = layer.init_with_output(jax.random.PRNGKey(0), X)
    np.testing.assert_allclose(y, X, atol=1e-6)
    assert count(variables["params"]) == 2 * (3 * 3 * 8 * 8 + 8)
    y = highway.HighwayConv(kernel_size=(1, 1)).apply(
        highway.HighwayConv(kernel_size=(1, 1)).init(jax.random.PRNGKey(0), X), X
    )
    assert y.shape == X.shape
