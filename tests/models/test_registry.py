"""Every registered model: builds, returns logits of the right shape, sows its features."""

import jax
import jax.numpy as jnp
import pytest

from cnnjax import models

# The smallest input each model accepts, (H, W, C).
INPUT_SHAPES = {
    "mlp": (8, 8, 1),
    "lenet5": (28, 28, 1),
    "lenet5_1998": (28, 28, 1),
    "small_cnn": (8, 8, 3),
}


def test_every_model_has_a_test_input():
    assert sorted(INPUT_SHAPES) == models.list_models()


@pytest.mark.parametrize("name", models.list_models())
def test_logits_and_intermediates(name):
    model = models.create(name, num_classes=7)
    x = jax.random.normal(jax.random.PRNGKey(0), (3,) + INPUT_SHAPES[name])
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    logits, state = model.apply(variables, x, train=False, mutable=["intermediates"])
    assert logits.shape == (3, 7) and logits.dtype == jnp.float32
    assert state["intermediates"], "models sow their named features"
    logits, _ = model.apply(
        variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)}, mutable=["batch_stats"]
    )
    assert logits.shape == (3, 7)


def count(model, shape):
    variables = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False)
    )
    return sum(x.size for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("name", ["lenet5", "lenet5_1998"])
def test_lenet5_parameter_count(name):
    # 156 + 2,416 + 48,120 + 10,164 + 850 (LeCun et al. 1998, with a full C3 and dense output).
    assert count(models.create(name, 10), (1, 28, 28, 1)) == 61_706


def test_lenet5_1998_pads_to_32_and_uses_its_own_defaults():
    model = models.create("lenet5_1998", 10)
    assert (model.act, model.pool, model.pad_input_to) == ("scaled_tanh", "avg", 32)
    # A 32x32 input needs no padding and gives the same parameter count.
    assert count(model, (1, 32, 32, 1)) == 61_706


def test_mlp_parameter_count():
    # 64*32+32 + 32*10+10
    assert count(models.create("mlp", 10, hidden_sizes=(32,)), (1, 8, 8, 1)) == 2_410


def test_small_cnn_parameter_count_with_and_without_batch_norm():
    # conv 3x3: 1->4 (36), 4->8 (288); BN adds 2 params per channel, no conv bias;
    # dense 2*2*8 -> 16 (512+16); head 16 -> 10 (170).
    bn = models.create("small_cnn", 10, widths=(4, 8), convs_per_stage=1, hidden=16)
    plain = models.create(
        "small_cnn", 10, widths=(4, 8), convs_per_stage=1, hidden=16, batch_norm=False
    )
    assert count(bn, (1, 8, 8, 1)) == 36 + 8 + 288 + 16 + 528 + 170
    assert count(plain, (1, 8, 8, 1)) == 36 + 4 + 288 + 8 + 528 + 170


def test_unknown_model_lists_valid_names():
    with pytest.raises(models.UnknownModelError, match="lenet5.*mlp"):
        models.create("resnet9000", 10)


def test_unknown_override_names_the_field():
    with pytest.raises(TypeError, match="no field.*widht"):
        models.create("small_cnn", 10, widht=3)
