"""GoogLeNet, the compact Inception-v3, Xception and the highway / plain deep MLPs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.models import highway, inception, xception

MODELS = {**inception.MODELS, **xception.MODELS, **highway.MODELS}


def init_shapes(model, shape):
    return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False))


def count(model, shape):
    return sum(x.size for x in jax.tree.leaves(init_shapes(model, shape)["params"]))


def test_googlenet_parameter_count_near_the_paper():
    # Szegedy et al. (2015): about 6.8M parameters, without the auxiliary classifiers.
    for name in ("googlenet", "googlenet_2015"):
        assert abs(count(MODELS[name](1000), (1, 224, 224, 3)) - 6.8e6) < 0.1 * 6.8e6
    assert count(MODELS["googlenet_2015"](1000), (1, 224, 224, 3)) == 6_998_552


def test_googlenet_grid_at_224_and_with_the_cifar_stem():
    for stem, size, grids in (("imagenet", 224, (28, 14, 7)), ("cifar", 32, (32, 16, 8))):
        model = MODELS["googlenet"](10, stem=stem)
        x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
        variables = init_shapes(model, x.shape)
        logits, state = jax.eval_shape(
            lambda v, x: model.apply(v, x, train=False, mutable=["intermediates"]), variables, x
        )
        feats = {k: v[0].shape for k, v in state["intermediates"].items()}
        assert logits.shape == (1, 10)
        assert feats["stem"] == (1, grids[0], grids[0], 192)
        assert feats["stage3"] == (1, grids[0], grids[0], 480)
        assert feats["stage4"] == (1, grids[1], grids[1], 832)
        assert feats["stage5"] == (1, grids[2], grids[2], 1024)
        assert feats["penultimate"] == (1, 1024)


def test_googlenet_rejects_an_unknown_stem():
    with pytest.raises(ValueError, match="stem"):
        init_shapes(MODELS["googlenet"](10, stem="tiny"), (1, 8, 8, 3))


def test_googlenet_gradient_shapes():
    # Compiling GoogLeNet's batch-norm backward pass takes ~30 s on a small CPU: checked by
    # abstract evaluation only; the same modules without batch norm (googlenet_2015) run below.
    model = MODELS["googlenet"](10, stem="cifar")
    variables = init_shapes(model, (2, 4, 4, 3))

    def loss(params, batch_stats, x):
        logits, state = model.apply(
            {"params": params, "batch_stats": batch_stats},
            x,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": jax.random.PRNGKey(0)},
        )
        return logits.sum(), state

    grads, state = jax.eval_shape(
        jax.grad(loss, has_aux=True),
        variables["params"],
        variables["batch_stats"],
        jax.ShapeDtypeStruct((2, 4, 4, 3), jnp.float32),
    )
    assert jax.tree.structure(grads) == jax.tree.structure(variables["params"])
    assert jax.tree.structure(state["batch_stats"]) == jax.tree.structure(variables["batch_stats"])


def test_compact_model_parameter_counts():
    assert count(MODELS["inception_v3_compact"](10), (1, 32, 32, 3)) == 4_690_154
    assert count(MODELS["xception"](10), (1, 32, 32, 3)) == 2_564_714
    # 784*50+50 + 10 * 2*(50*50+50) + 50*10+10, and 10*(50*50+50) for the plain layers.
    assert count(MODELS["highway_mlp"](10), (1, 28, 28, 1)) == 39_250 + 51_000 + 510
    assert count(MODELS["plain_mlp_deep"](10), (1, 28, 28, 1)) == 39_250 + 25_500 + 510


# Numerical forward + backward: narrow versions of the models (same code paths, fewer channels;
# GoogLeNet's widths are fixed) on 2x2 or 4x4 inputs, so that each compiles in seconds.
SMALL = {
    "googlenet_2015": (dict(stem="cifar"), (2, 2, 3)),
    "inception_v3_compact": (dict(width_mult=0.0625, blocks=(1, 1, 1)), (4, 4, 3)),
    "inception_net": (
        dict(block="v3", widths=(16, 16), blocks_per_stage=1, stem_width=4),
        (4, 4, 3),
    ),
    "xception": (
        dict(
            stem_widths=(4,),
            entry_widths=(4, 8, 8),
            middle_blocks=1,
            exit_widths=(8, 8),
            head_widths=(8,),
        ),
        (4, 4, 3),
    ),
    "highway_mlp": (dict(width=6, depth=3), (2, 2, 1)),
    "plain_mlp_deep": (dict(width=6, depth=3), (2, 2, 1)),
}


def test_every_model_is_tested():
    assert sorted(MODELS) == sorted(["googlenet", *SMALL])


def numpy_init(model, x):
    """Variables of `model` drawn with NumPy: kernels N(0, 1/fan_in), BatchNorm's identity.

    model.init compiles one random-number kernel per parameter shape, which takes a minute for
    the Inception model on a small CPU; the shapes come from jax.eval_shape instead.
    """
    rng = np.random.default_rng(0)

    def leaf(path, s):
        name = path[-1].key
        if name == "kernel":
            fan_in = int(np.prod(s.shape[:-1]))
            return jnp.asarray(rng.normal(size=s.shape) / np.sqrt(fan_in), jnp.float32)
        return jnp.ones(s.shape) if name in ("scale", "var") else jnp.zeros(s.shape)

    return jax.tree_util.tree_map_with_path(leaf, init_shapes(model, x.shape))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_backward_and_batch_stats(name):
    kwargs, shape = SMALL[name]
    model = MODELS[name](3, **kwargs)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *shape))
    variables = numpy_init(model, x)
    params, rest = variables["params"], {k: v for k, v in variables.items() if k != "params"}

    @jax.jit
    def run(params, rest, x):
        def loss(params):
            logits, state = model.apply(
                {"params": params, **rest},
                x,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": jax.random.PRNGKey(2)},
            )
            return jnp.mean(logits**2), (logits, state)

        (_, (logits, state)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        eval_logits, eval_state = model.apply(
            {"params": params, **rest}, x, train=False, mutable=["batch_stats"]
        )
        return logits, grads, state, eval_logits, eval_state

    logits, grads, state, eval_logits, eval_state = run(params, rest, x)
    assert logits.shape == eval_logits.shape == (2, 3)
    leaves = jax.tree.leaves(grads)
    assert all(bool(jnp.isfinite(g).all()) for g in leaves)
    assert any(bool(jnp.any(g != 0)) for g in leaves)
    if "batch_stats" in rest:
        before, after = jax.tree.leaves(rest["batch_stats"]), jax.tree.leaves(state["batch_stats"])
        assert any(not np.allclose(a, b) for a, b in zip(before, after))
        for a, b in zip(before, jax.tree.leaves(eval_state["batch_stats"])):
            np.testing.assert_array_equal(a, b)
    else:
        assert not state and not eval_state  # no batch norm in the MLPs


@pytest.mark.parametrize("name", sorted(SMALL))
def test_intermediates(name):
    kwargs, shape = SMALL[name]
    model = MODELS[name](3, **kwargs)
    x = jnp.zeros((1, *shape))
    variables = init_shapes(model, x.shape)
    _, state = jax.eval_shape(
        lambda v: model.apply(v, x, train=False, mutable=["intermediates"]), variables
    )
    assert "penultimate" in state["intermediates"]
    assert len(state["intermediates"]) >= 4


def test_plain_and_highway_differ_only_in_the_gates():
    h = init_shapes(MODELS["highway_mlp"](3, width=6, depth=2), (1, 2, 2, 1))["params"]
    p = init_shapes(MODELS["plain_mlp_deep"](3, width=6, depth=2), (1, 2, 2, 1))["params"]
    assert set(h["highway1"]) == {"transform", "gate"}
    assert h["highway1"]["transform"]["kernel"].shape == p["plain1"]["kernel"].shape


def test_highway_mlp_with_closed_gates_passes_the_projection_through():
    model = MODELS["highway_mlp"](3, width=6, depth=4, gate_bias=-50.0)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 2, 2, 1))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    _, state = model.apply(variables, x, train=False, mutable=["intermediates"])
    feats = state["intermediates"]
    np.testing.assert_allclose(feats["layer4"][0], feats["layer0"][0], atol=1e-6)


def _inception_net_weights(block, c_in, width, n=3):
    """Conv weights of one module of `inception_net` from the blocks' formulas (no biases)."""
    w1, w3r, w3, w5r, w5, wp = (width * k // 16 for k in (4, 6, 8, 1, 2, 2))
    if block == "naive":
        return c_in * (w1 + 9 * w3 + 25 * w5)
    reduce = c_in * (w1 + w3r + w5r + wp)
    if block == "v1":
        return reduce + 9 * w3r * w3 + 25 * w5r * w5
    if block == "v2":
        return reduce + 9 * w3r * w3 + 9 * w5r * w5 + 9 * w5 * w5
    return reduce + n * w3r * w3r + n * w3r * w3 + 3 * n * w5r * w5r + n * w5r * w5


@pytest.mark.parametrize("block", ["naive", "v1", "v2", "v3"])
def test_inception_net_weights_follow_the_module_formulas(block):
    model = inception.InceptionNet(10, block=block, widths=(32, 64), batch_norm=False)
    leaves = jax.tree_util.tree_flatten_with_path(init_shapes(model, (1, 8, 8, 3))["params"])[0]
    kernels = sum(p.size for path, p in leaves if "kernel" in jax.tree_util.keystr(path))
    c, expected = 32, 27 * 32  # stem 3x3x3 -> 32
    for width in (32, 64):
        for _ in range(2):
            expected += _inception_net_weights(block, c, width)
            # The naive module's pool passes its C_in channels through.
            c = width * 14 // 16 + c if block == "naive" else width
    expected += c * 10  # head
    assert kernels == expected
