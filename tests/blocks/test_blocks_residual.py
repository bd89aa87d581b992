"""Residual blocks: shortcut options, bottleneck arithmetic, plain = residual minus the skip."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.blocks.residual import BasicBlock, BottleneckBlock, option_a_shortcut

NORM = functools.partial(nn.BatchNorm, use_running_average=True)
IDENTITY = lambda x: x  # noqa: E731  (makes the block's output linear in branch + shortcut)


def init(block, x):
    return block.init(jax.random.PRNGKey(0), x)


def n_params(variables):
    return sum(p.size for p in jax.tree.leaves(variables["params"]))


def x_of(shape, seed=1):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


@pytest.mark.parametrize("strides, c_in", [(1, 8), (2, 4)])
def test_option_a_adds_no_parameters_and_is_the_padded_subsampled_input(strides, c_in):
    x = x_of((2, 6, 6, c_in))
    residual = BasicBlock(8, norm=NORM, act=IDENTITY, strides=strides, shortcut="A")
    plain = residual.clone(shortcut="none")
    variables = init(residual, x)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, init(plain, x))
    shortcut = residual.apply(variables, x) - plain.apply(variables, x)
    if strides == 1:  # shapes match: the identity
        np.testing.assert_allclose(shortcut, x, atol=1e-5)
    else:
        expected = jnp.concatenate([x[:, ::2, ::2], jnp.zeros((2, 3, 3, 4))], axis=-1)
        np.testing.assert_allclose(shortcut, expected, atol=1e-5)


def test_option_a_rejects_fewer_channels():
    with pytest.raises(ValueError, match="cannot shrink"):
        option_a_shortcut(jnp.zeros((1, 4, 4, 8)), 4, 1)


def test_option_b_projects_only_when_the_shape_changes():
    same = init(BasicBlock(8, norm=NORM, shortcut="B"), jnp.zeros((1, 4, 4, 8)))
    assert "proj_conv" not in same["params"]
    assert n_params(same) == 2 * (9 * 8 * 8 + 2 * 8)
    down = init(BasicBlock(8, norm=NORM, strides=2, shortcut="B"), jnp.zeros((1, 4, 4, 4)))
    assert down["params"]["proj_conv"]["kernel"].shape == (1, 1, 4, 8)
    # 3x3 4->8, 3x3 8->8, two norms, plus the 1x1 projection 4*8 and its norm 2*8.
    assert n_params(down) == 9 * 4 * 8 + 9 * 8 * 8 + 2 * 2 * 8 + 4 * 8 + 2 * 8


def test_bottleneck_256_64_64_256():
    variables = init(BottleneckBlock(64, norm=NORM), jnp.zeros((1, 4, 4, 256)))
    params = variables["params"]
    shapes = [params[f"conv{i}"]["kernel"].shape for i in (1, 2, 3)]
    assert shapes == [(1, 1, 256, 64), (3, 3, 64, 64), (1, 1, 64, 256)]
    assert "proj_conv" not in params  # 256 -> 256, stride 1: identity shortcut
    assert n_params(variables) == 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)


def test_bottleneck_strides_on_the_3x3_and_projects():
    block = BottleneckBlock(4, norm=NORM, strides=2)
    x = x_of((1, 6, 6, 8))
    variables = init(block, x)
    assert block.apply(variables, x).shape == (1, 3, 3, 16)
    assert variables["params"]["proj_conv"]["kernel"].shape == (1, 1, 8, 16)


@pytest.mark.parametrize("cls", [BasicBlock, BottleneckBlock])
@pytest.mark.parametrize("preact", [False, True])
def test_plain_block_is_residual_block_minus_the_skip(cls, preact):
    c = 4 * cls.expansion
    x = x_of((2, 5, 5, c))
    act = jax.nn.relu if preact else IDENTITY  # pre-activation blocks end in the sum itself
    residual = cls(4, norm=NORM, act=act, shortcut="B", preact=preact)
    plain = residual.clone(shortcut=False)
    variables = init(residual, x)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, init(plain, x))
    diff = residual.apply(variables, x) - plain.apply(variables, x)
    np.testing.assert_allclose(diff, x, atol=1e-5)


def test_preact_order_and_projection_without_norm():
    block = BasicBlock(8, norm=NORM, strides=2, preact=True)
    variables = init(block, jnp.zeros((1, 4, 4, 4)))
    params = variables["params"]
    assert params["preact_norm"]["scale"].shape == (4,)  # norm before the first conv
    assert set(params) == {"preact_norm", "conv1", "norm1", "conv2", "proj_conv"}


@pytest.mark.parametrize("cls", [BasicBlock, BottleneckBlock])
@pytest.mark.parametrize("preact", [False, True])
def test_zero_init_last_starts_as_the_shortcut(cls, preact):
    c = 4 * cls.expansion
    x = x_of((1, 4, 4, c))
    block = cls(4, norm=NORM, preact=preact, zero_init_last=True)
    y = block.apply(init(block, x), x)
    np.testing.assert_allclose(y, x if preact else jax.nn.relu(x), atol=1e-6)
    default = cls(4, norm=NORM, preact=preact)
    assert not np.allclose(default.apply(init(default, x), x), y)


class Gate(nn.Module):
    """A stand-in attention module: multiplies each channel by a learned gate, zero at init
    (it reads the channel count from its input, as the attention modules do)."""

    @nn.compact
    def __call__(self, x):
        return x * self.param("gate", nn.initializers.zeros_init(), (x.shape[-1],))


def test_attention_is_applied_to_the_branch_before_the_addition():
    x = x_of((1, 4, 4, 16))
    block = BottleneckBlock(4, norm=NORM, attention=Gate)
    variables = init(block, x)
    assert variables["params"]["attention"]["gate"].shape == (16,)  # 4 * 4 output channels
    np.testing.assert_allclose(block.apply(variables, x), jax.nn.relu(x), atol=1e-6)


def test_unknown_shortcut_is_rejected():
    with pytest.raises(ValueError, match="shortcut must be"):
        init(BasicBlock(4, norm=NORM, shortcut="C"), jnp.zeros((1, 4, 4, 4)))
