"""ResNet, plain, VGG, AlexNet and NiN: exact parameter counts, shapes, gradients, batch stats.

Counts and shapes use jax.eval_shape (nothing is allocated or compiled). A compiled forward +
backward pass costs 10-30 s per deep model on a 2-core CPU, so it runs for one representative
per family (`FWD_BWD`); every registered model gets an abstract (eval_shape) forward and
backward pass in train and eval mode in test_registry.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.blocks import attention
from cnnjax.models import alexnet, nin, resnet, vgg

MODELS = {**resnet.MODELS, **vgg.MODELS, **alexnet.MODELS, **nin.MODELS}

# The smallest input each model accepts, (H, W, C) (the ResNets take any size; 8x8 keeps
# batch norm's statistics over more than one value per channel in the early stages).
INPUT_SHAPES = {
    **{name: (8, 8, 3) for name in resnet.MODELS},
    **{name: (32, 32, 3) for name in vgg.MODELS},
    "alexnet": (63, 63, 3),
    "nin": (8, 8, 3),
}

# name: (num_classes, input (H, W, C), parameters): torchvision's counts for the ImageNet models,
# He et al. 2016 and Lin et al. 2014 for the CIFAR ones.
COUNTS = {
    "resnet18": (1000, (224, 224, 3), 11_689_512),
    "resnet34": (1000, (224, 224, 3), 21_797_672),
    "resnet50": (1000, (224, 224, 3), 25_557_032),
    "resnet101": (1000, (224, 224, 3), 44_549_160),
    "resnet152": (1000, (224, 224, 3), 60_192_808),
    "resnet20": (10, (32, 32, 3), 269_722),
    "plain20": (10, (32, 32, 3), 269_722),  # option A shortcuts have no parameters
    "resnet110": (10, (32, 32, 3), 1_727_962),
    "plain110": (10, (32, 32, 3), 1_727_962),
    "vgg11": (1000, (224, 224, 3), 132_863_336),
    "vgg13": (1000, (224, 224, 3), 133_047_848),
    "vgg16": (1000, (224, 224, 3), 138_357_544),
    "vgg19": (1000, (224, 224, 3), 143_667_240),
    "vgg11_bn": (1000, (224, 224, 3), 132_868_840),
    "vgg13_bn": (1000, (224, 224, 3), 133_053_736),
    "vgg16_bn": (1000, (224, 224, 3), 138_365_992),
    "vgg19_bn": (1000, (224, 224, 3), 143_678_248),
    "alexnet": (1000, (224, 224, 3), 61_100_840),
    "nin": (10, (32, 32, 3), 966_986),
}

# One compiled forward + backward pass per family (fewer blocks / narrower dense layers keep the
# compile short; the full-depth graphs are covered by the abstract pass).
FWD_BWD = {
    "resnet50": {"stage_sizes": (1, 1, 1, 1)},  # stem, 4 bottleneck stages, projections
    "resnet20": {},
    "plain20": {},
    "vgg11_bn": {"hidden": 16},
    "alexnet": {"hidden": 16, "lrn": True},
    "nin": {},
}


def build(name, num_classes=3, **overrides):
    return MODELS[name](num_classes=num_classes, **overrides)


def init_shapes(model, shape):
    return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False))


def n_params(variables):
    return sum(p.size for p in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_count(name):
    num_classes, shape, expected = COUNTS[name]
    assert n_params(init_shapes(build(name, num_classes), (1, *shape))) == expected


@pytest.mark.parametrize("depth, n", [(20, 3), (32, 5), (44, 7), (56, 9), (110, 18)])
def test_cifar_resnet_depth_is_6n_plus_2(depth, n):
    variables = init_shapes(build(f"resnet{depth}", 10), (1, 32, 32, 3))
    kernels = [leaf for leaf in jax.tree.leaves(variables["params"]) if len(leaf.shape) == 4]
    assert len(kernels) + 1 == depth  # 6n 3x3 convs in blocks + stem conv + dense head
    assert n_params(variables) == n_params(init_shapes(build(f"plain{depth}", 10), (1, 32, 32, 3)))


@pytest.mark.parametrize("name", sorted(FWD_BWD))
def test_forward_backward_finite_and_batch_stats(name, loss_and_grads):
    model = build(name, **FWD_BWD[name])
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *INPUT_SHAPES[name]))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    (loss, (logits, state)), grads = jax.jit(lambda v, x: loss_and_grads(model, v, x, train=True))(
        variables, x
    )
    assert np.isfinite(loss) and logits.shape == (2, 3)
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        assert np.all(np.isfinite(g)), jax.tree_util.keystr(path)
    if "batch_stats" not in variables:
        assert "batch_stats" not in state
        return
    old = jax.tree_util.tree_flatten_with_path(variables["batch_stats"])[0]
    new = jax.tree.leaves(state["batch_stats"])
    for (path, before), after in zip(old, new):
        assert not np.allclose(before, after), f"train mode left {jax.tree_util.keystr(path)}"
    _, state = jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=["batch_stats"]))(
        variables, x
    )
    jax.tree.map(np.testing.assert_array_equal, state["batch_stats"], variables["batch_stats"])


def _attention_overhead(widths, blocks_per_stage, kind, r=16):
    """Parameters that attention adds to a CIFAR ResNet, from the modules' formulas."""
    total = 0
    for c in widths:
        h = max(1, c // r)
        mlp = 2 * c * h + h + c
        per_block = {"se": mlp, "cbam": mlp + 2 * 7 * 7 + 1, "eca": attention.eca_kernel_size(c)}
        total += blocks_per_stage * per_block[kind]
    return total


@pytest.mark.parametrize("kind", ["se", "cbam", "eca"])
def test_resnet_attention_switch_adds_its_parameters_to_every_block(kind):
    base = init_shapes(build("resnet20", 10), (1, 32, 32, 3))
    with_att = init_shapes(build("resnet20", 10, attention=kind), (1, 32, 32, 3))
    extra = n_params(with_att) - n_params(base)
    assert extra == _attention_overhead((16, 32, 64), 3, kind)
    assert sum("attention" in b for b in with_att["params"]["stage2_block1"]) == 1


def test_resnet_attention_applies_its_weights():
    """SE whose excitation outputs sigmoid(0) = 0.5 halves every residual branch."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
    plain, se = build("resnet20", attention="none"), build("resnet20", attention="se")
    v = se.init(jax.random.PRNGKey(1), x, train=False)
    zero_expand = jax.tree_util.tree_map_with_path(
        lambda p, a: jnp.zeros_like(a) if "expand" in jax.tree_util.keystr(p) else a, v["params"]
    )
    halved = jax.tree_util.tree_map_with_path(
        lambda p, a: a * 0.5 if "norm2" in jax.tree_util.keystr(p) else a, zero_expand
    )
    strip = lambda tree: {  # noqa: E731
        k: ({n: w for n, w in b.items() if n != "attention"} if isinstance(b, dict) else b)
        for k, b in tree.items()
    }
    out_se = se.apply({**v, "params": zero_expand}, x, train=False)
    out_half = plain.apply({**v, "params": strip(halved)}, x, train=False)
    np.testing.assert_allclose(out_se, out_half, rtol=1e-5, atol=1e-5)


def test_resnet_rejects_an_unknown_attention():
    with pytest.raises(ValueError, match="attention must be one of"):
        init_shapes(build("resnet20", attention="sk"), (1, 8, 8, 3))
