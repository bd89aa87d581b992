"""The airbench network: its layers and parameter count, the Dirac initialisation, the
whitening layer computed from data, and (when PyTorch is installed) airbench's own modules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.layers.whitening import whitening_kernel
from cnnjax.models.airbench import dirac_init


def _params(model, shape=(1, 32, 32, 3)):
    init = lambda key, x: model.init(key, x, train=False)
    return jax.eval_shape(init, jax.random.PRNGKey(0), jnp.zeros(shape))["params"]


def test_parameter_count_adds_up_layer_by_layer():
    shapes = jax.tree.map(lambda s: s.shape, _params(models.create("airbench_net", 10)))
    assert shapes["whiten"] == {"kernel": (2, 2, 3, 24), "bias": (24,)}
    assert shapes["block2"]["conv1"]["kernel"] == (3, 3, 64, 256)
    assert shapes["block3"]["norm2"] == {"bias": (256,)}  # no scale: gamma fixed at 1
    assert shapes["head"] == {"kernel": (256, 10)}  # no bias
    whiten = 2 * 2 * 3 * 24 + 24
    convs = 9 * (24 * 64 + 64 * 64 + 64 * 256 + 256 * 256 + 256 * 256 + 256 * 256)
    norms = 2 * (64 + 256 + 256)
    count = sum(
        int(np.prod(s.shape)) for s in jax.tree.leaves(_params(models.create("airbench_net", 10)))
    )
    assert count == whiten + convs + norms + 256 * 10 == 1_971_640


def test_dirac_filters_pass_their_channel_through():
    kernel = dirac_init()(jax.random.PRNGKey(0), (3, 3, 4, 6))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 5, 4))
    y = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(y[..., :4], x, atol=1e-6)  # filters 0-3: identities
    bound = 1 / np.sqrt(9 * 4)  # the rest: PyTorch's default U(-1/sqrt(fan_in), +)
    assert 0 < float(jnp.max(jnp.abs(kernel[..., 4:]))) <= bound


def test_logits_shape_and_named_features():
    model = models.create("airbench_net", 7)
    x = jnp.ones((2, 32, 32, 3))
    variables = model.init(jax.random.PRNGKey(0), x, train=False)
    logits, state = model.apply(variables, x, train=False, mutable=["intermediates"])
    assert logits.shape == (2, 7)
    features = state["intermediates"]
    assert features["stage1"][0].shape == (2, 15, 15, 64)
    assert features["stage3"][0].shape == (2, 3, 3, 256)
    assert features["penultimate"][0].shape == (2, 256)


def test_the_whitening_layer_is_computed_from_the_first_images():
    init = models.data_init("airbench_net")
    model = models.create("airbench_net", 10, whiten_images=6)
    images = jax.random.normal(jax.random.PRNGKey(0), (20, 8, 8, 3))
    asked = []

    def first(n):
        asked.append(n)
        return images[:n]

    computed = init(model, first)
    assert asked == [6] and list(computed) == [("whiten", "kernel")]
    np.testing.assert_array_equal(
        computed[("whiten", "kernel")], whitening_kernel(images[:6], (2, 2), model.whiten_eps)
    )
    assert models.data_init("resnet20") is None


def test_equals_airbench_modules_in_pytorch():
    """cnnjax's network against airbench94's own layers (rebuilt from its definition with
    the same weights), eval mode: the same logits."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = models.create("airbench_net", 10, conv_impl="xla")
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 32, 32, 3))
    variables = model.init(jax.random.PRNGKey(0), x, train=False)
    params = variables["params"]
    stats = jax.tree.map(lambda a: a + 0.1, variables["batch_stats"])  # not the trivial ones
    to_t = lambda a: torch.tensor(np.asarray(a))
    conv_t = lambda k: to_t(k).permute(3, 2, 0, 1)

    def bn(p, s):
        layer = nn.BatchNorm2d(p["bias"].shape[0], eps=1e-12)
        layer.weight.data.fill_(1.0)
        layer.bias.data = to_t(p["bias"])
        layer.running_mean.data, layer.running_var.data = to_t(s["mean"]), to_t(s["var"])
        return layer

    def conv(k, bias=None):
        layer = nn.Conv2d(
            k.shape[2],
            k.shape[3],
            k.shape[0],
            padding=0 if bias is not None else "same",
            bias=bias is not None,
        )
        layer.weight.data = conv_t(k)
        if bias is not None:
            layer.bias.data = to_t(bias)
        return layer

    layers = [conv(params["whiten"]["kernel"], params["whiten"]["bias"]), nn.GELU()]
    for b in ("block1", "block2", "block3"):
        p, s = params[b], stats[b]
        layers += [
            conv(p["conv1"]["kernel"]),
            nn.MaxPool2d(2),
            bn(p["norm1"], s["norm1"]),
            nn.GELU(),
            conv(p["conv2"]["kernel"]),
            bn(p["norm2"], s["norm2"]),
            nn.GELU(),
        ]
    head = nn.Linear(256, 10, bias=False)
    head.weight.data = to_t(params["head"]["kernel"]).T
    layers += [nn.MaxPool2d(3), nn.Flatten(), head]
    net = nn.Sequential(*layers).eval()
    with torch.no_grad():
        want = net(to_t(x).permute(0, 3, 1, 2)).numpy() / 9
    got = model.apply({"params": params, "batch_stats": stats}, x, train=False)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
