"""Every registered model, through the registry: a new model is tested by being registered.

The abstract pass (jax.eval_shape: shapes only, nothing compiled or allocated) runs init, a
forward pass in train and eval mode and the backward pass for all of them; the small models also
run for real.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models

# An input each model accepts, (H, W, C), small enough for a quick pass.
INPUT_SHAPES = {
    **{name: (8, 8, 3) for name in models.list_models() if name.startswith(("resnet", "plain"))},
    **{name: (32, 32, 3) for name in models.list_models() if name.startswith("vgg")},
    "alexnet": (63, 63, 3),
    "airbench_net": (16, 16, 3),
    "nin": (8, 8, 3),
    "googlenet": (32, 32, 3),
    "googlenet_2015": (32, 32, 3),
    "inception_v3_compact": (8, 8, 3),
    "inception_net": (8, 8, 3),
    "xception": (8, 8, 3),
    "highway_mlp": (8, 8, 1),
    "plain_mlp_deep": (8, 8, 1),
    "mlp": (8, 8, 1),
    "lenet5": (28, 28, 1),
    "lenet5_1998": (28, 28, 1),
    "small_cnn": (8, 8, 3),
    "cnn1d": (1, 32, 1),
    "fcn": (8, 8, 1),
    "fcn_noskip": (8, 8, 1),
    "srcnn": (8, 8, 3),
    "espcn": (4, 4, 3),
    "dcgan_generator": (1, 1, 16),
    "dcgan_discriminator": (8, 8, 3),
    "dcgan": (1, 1, 16),
    "stackgan": (1, 1, 16),
    "flownet_simple": (8, 8, 6),
}
# Image-to-image models: (num_classes, output (H, W, C)) for the input above.
IMAGE_OUTPUTS = {
    "srcnn": (3, (8, 8, 3)),
    "espcn": (3, (8, 8, 3)),  # scale 2
    "dcgan_generator": (3, (28, 28, 3)),  # image_size 28
    "dcgan": (3, (28, 28, 3)),  # a GAN pair samples through its stages' generators
    "stackgan": (3, (28, 28, 3)),
    "flownet_simple": (2, (8, 8, 2)),  # flow (rows, columns) from two stacked RGB frames
}
COMPILED = (
    "fcn",
    "srcnn",
    "espcn",
    "dcgan_generator",
    "dcgan_discriminator",
    "dcgan",
    "stackgan",
    "flownet_simple",
    "cnn1d",
    "mlp",
    "lenet5",
    "lenet5_1998",
    "small_cnn",
    "highway_mlp",
    "plain_mlp_deep",
)


def test_every_model_has_a_test_input():
    assert sorted(INPUT_SHAPES) == models.list_models()


def test_image_models_have_an_expected_output():
    assert sorted(IMAGE_OUTPUTS) == sorted(
        n for n in models.list_models() if models.output_kind(n) in ("image", "flow", "gan")
    )


def classes(name):
    """num_classes for the tests: 7, or IMAGE_OUTPUTS' channels for an image-to-image model."""
    return IMAGE_OUTPUTS[name][0] if name in IMAGE_OUTPUTS else 7


def output_shape(name, batch):
    """(N, K) for image classifiers, (N, H, W, K) for per-pixel ones, IMAGE_OUTPUTS' shape
    for image-to-image models."""
    kind = models.output_kind(name)
    if kind == "pixel_logits":
        return (batch, *INPUT_SHAPES[name][:2], 7)
    if kind in ("image", "flow", "gan"):
        return (batch, *IMAGE_OUTPUTS[name][1])
    assert kind == "logits"
    return (batch, 7)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", models.list_models())
def test_abstract_init_forward_and_backward(name, train, loss_and_grads):
    model = models.create(name, num_classes=classes(name))
    x = jax.ShapeDtypeStruct((2, *INPUT_SHAPES[name]), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(1), x, train=False), x)
    (_, (logits, state)), grads = jax.eval_shape(
        lambda v, x: loss_and_grads(model, v, x, train), variables, x
    )
    assert logits.shape == output_shape(name, 2) and logits.dtype == jnp.float32
    assert jax.tree.map(jnp.shape, grads) == jax.tree.map(jnp.shape, variables["params"])
    if "batch_stats" in variables:
        assert jax.tree.map(jnp.shape, state["batch_stats"]) == jax.tree.map(
            jnp.shape, variables["batch_stats"]
        )
    sown = state["intermediates"]
    if models.output_kind(name) == "gan":  # a pair's generators sow theirs
        sown = sown[sorted(sown)[-1]]
    assert "penultimate" in sown, "models sow their classifier's input"


@pytest.mark.parametrize("name", COMPILED)
def test_small_models_run_and_sow(name, loss_and_grads):
    model = models.create(name, num_classes=classes(name))
    x = jax.random.normal(jax.random.PRNGKey(0), (3, *INPUT_SHAPES[name]))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    logits, state = model.apply(variables, x, train=False, mutable=["intermediates"])
    assert logits.shape == output_shape(name, 3) and np.all(np.isfinite(logits))
    sown = state["intermediates"]
    if models.output_kind(name) == "gan":  # a pair's generators sow theirs
        sown = sown[sorted(sown)[-1]]
    feats = sown["penultimate"][0]
    assert feats.shape[0] == 3
    (loss, _), grads = jax.jit(lambda v, x: loss_and_grads(model, v, x, True))(variables, x)
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


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


def test_partial_aliases_list_their_fields():
    assert models.hyperparameters("resnet20")["shortcut"] == "A"
    assert models.hyperparameters("plain20")["shortcut"] == "none"
    assert models.hyperparameters("vgg16_bn")["batch_norm"] is True


def test_cnn1d_parameter_count_and_regression_output():
    model = models.create("cnn1d", 1)  # widths (16, 32), kernel 5, pool 2, hidden 64
    x = jnp.zeros((2, 1, 32, 1))
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, train=False))["params"]
    conv = (5 * 1 * 16 + 16) + (5 * 16 * 32 + 32)
    dense = (32 // 4) * 32 * 64 + 64
    assert sum(np.prod(p.shape) for p in jax.tree.leaves(params)) == conv + dense + 64 + 1
    assert jax.eval_shape(
        lambda: model.apply(model.init(jax.random.PRNGKey(0), x, train=False), x, train=False)
    ).shape == (2, 1)
    with pytest.raises(ValueError, match=r"one-row images \(N, 1, L, C\)"):
        model.init(jax.random.PRNGKey(0), jnp.zeros((2, 4, 4, 1)), train=False)


def test_gan_pairs_count_their_networks_parameters_by_hand():
    """DC-GAN, S=8, C=1, Z=6, generator widths (4, 2), discriminator widths (2, 4): G =
    project 2x2x6x4 + BN 2x4 + up1 4x4x4x2 + BN 2x2 + up2 4x4x2x1 + 1 = 269; D = conv0
    4x4x1x2 + 2 + conv1 4x4x2x4 + BN 2x4 + head (2x2x4) + 1 = 187. StackGAN's stage I: project
    2x2x6x4 + BN 8 + up 4x4x4x1 + 1 = 169, its D on 4x4: 34 + 128 + 8 + 4 + 1 = 175; stage
    II (width 2) on 4x4 stage-I images: encode 3x3x1x2 + BN 4 + two residual convs 3x3x2x2
    with BN 4 each + up 4x4x2x1 + BN 2 + to_image 3x3x1x1 + 1 = 146, its D 187."""

    def counts(name):
        model = models.create(
            name, 1, image_size=8, generator_widths=(4, 2), discriminator_widths=(2, 4)
        )
        out, previous = [], None
        for g, d, size in model.stages():
            g_in = (1, 1, 1, 6) if previous is None else (1, previous, previous, 1)
            for net, shape in ((g, g_in), (d, (1, size, size, 1))):
                out.append(count(net, shape))
            previous = size
        return out

    assert counts("dcgan") == [269, 187]
    assert counts("stackgan") == [169, 175, 146, 187]
