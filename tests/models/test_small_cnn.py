"""SmallCNN's ablation switches: each changes the parameter count as its formula says and the
'gap' head equals a 1x1 convolution followed by global average pooling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layers, models

# One stage of width 8 on 8x8x3 inputs, one conv, no batch norm (biases in the convs).
ARGS = dict(widths=(8,), convs_per_stage=1, hidden=16, batch_norm=False)


def variables(x_shape=(2, 8, 8, 3), **overrides):
    model = models.create("small_cnn", 10, **{**ARGS, **overrides})
    return model, model.init(jax.random.PRNGKey(0), jnp.zeros(x_shape), train=False)


def n_params(v):
    return sum(p.size for p in jax.tree.leaves(v["params"]))


def test_dense_head_parameters():
    # conv 3*3*3*8 + 8; pooled 4x4x8 = 128 -> 16 (+16); 16 -> 10 (+10)
    assert n_params(variables()[1]) == (27 * 8 + 8) + (128 * 16 + 16) + (16 * 10 + 10)


@pytest.mark.parametrize(
    "overrides, conv_params",
    [
        ({"conv": "separable"}, 3 * 3 * 3 + 3 * 8 + 8),  # depthwise 3x3x1x3, pointwise 3->8 + bias
        ({"pool": "conv"}, (27 * 8 + 8) + (72 * 8 + 8)),  # plus a 3x3/2 conv 8 -> 8
        ({"pool": "avg"}, 27 * 8 + 8),
    ],
)
def test_switches_change_the_convolutions_only(overrides, conv_params):
    head = (128 * 16 + 16) + (16 * 10 + 10)
    assert n_params(variables(**overrides)[1]) == conv_params + head


def test_pool_switch_changes_the_function():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    model_max, v = variables()
    model_avg, _ = variables(pool="avg")
    _, max_state = model_max.apply(v, x, train=False, mutable=["intermediates"])
    _, avg_state = model_avg.apply(v, x, train=False, mutable=["intermediates"])
    pre = jax.nn.relu(
        layers.conv2d(x, v["params"]["conv0_0"]["kernel"], padding="SAME")
        + v["params"]["conv0_0"]["bias"]
    )
    np.testing.assert_allclose(
        max_state["intermediates"]["stage0"][0], layers.max_pool(pre, 2), rtol=1e-5
    )
    np.testing.assert_allclose(
        avg_state["intermediates"]["stage0"][0], layers.avg_pool(pre, 2), rtol=1e-5, atol=1e-6
    )


def test_gap_head_equals_a_1x1_conv_then_global_average_pool():
    model, v = variables(head="gap")
    assert n_params(v) == (27 * 8 + 8) + (8 * 10 + 10)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    logits, state = model.apply(v, x, train=False, mutable=["intermediates"])
    maps = state["intermediates"]["stage0"][0]  # (2, 4, 4, 8)
    head = v["params"]["head"]
    conv_1x1 = layers.conv2d(maps, head["kernel"][None, None]) + head["bias"]  # (2, 4, 4, 10)
    np.testing.assert_allclose(logits, layers.global_avg_pool(conv_1x1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field", ["conv", "pool", "head"])
def test_unknown_switch_value_is_named(field):
    with pytest.raises(ValueError, match=f"SmallCNN.{field} must be one of"):
        variables(**{field: "nope"})


def test_kernel_init_switch_sets_every_kernel():
    _, v = variables(kernel_init="small_normal")
    kernels = [p for path, p in jax.tree_util.tree_leaves_with_path(v["params"])
               if path[-1].key == "kernel"]  # fmt: skip
    assert len(kernels) == 3
    for k in kernels:
        assert float(jnp.std(k)) == pytest.approx(0.01, rel=0.25)


def test_mlp_batch_norm_replaces_the_hidden_biases():
    model = models.create("mlp", 10, hidden_sizes=(32,), batch_norm=True, kernel_init="he_normal")
    v = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 1)), train=False)
    # dense0 64*32 (no bias), batch norm scale and bias 2*32, head 32*10 + 10
    assert n_params(v) == 64 * 32 + 2 * 32 + 32 * 10 + 10
    assert set(v["batch_stats"]["bn0"]) == {"mean", "var"}
