"""cnnjax.layer_stats against hand-computed values (NumPy backpropagation), and in the run loop."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layer_stats, models
from cnnjax.layers import activation
from cnnjax.train import loop

W1 = np.array([[1.0, -1.0, 0.5], [0.5, 0.5, -1.0]], np.float32)  # unit 1 is dead on X
B1 = np.array([0.0, -0.5, 0.25], np.float32)
W2 = np.array([[1.0, -1.0], [0.5, 0.5], [-1.0, 2.0]], np.float32)
B2 = np.array([0.1, -0.1], np.float32)
X = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
Y = np.array([0, 1])


class TwoLayer(nn.Module):
    """x (B, 2) -> Dense(3) -> act -> Dense(2)."""

    act: str = "relu"

    @nn.compact
    def __call__(self, x, train):
        return nn.Dense(2, name="out")(activation(self.act)(nn.Dense(3, name="hidden")(x)))


def variables():
    return {"params": {"hidden": {"kernel": W1, "bias": B1}, "out": {"kernel": W2, "bias": B2}}}


def measure(model):
    m = layer_stats.Measure(model.apply)
    stats = jax.jit(m)(variables(), jnp.asarray(X), jnp.asarray(Y), jax.random.PRNGKey(0))
    return m.layout, jax.device_get(stats)


def test_two_layer_relu_network_against_hand_computed_backprop():
    layout, stats = measure(TwoLayer("relu"))
    assert layout.layers == ("hidden", "out")
    assert layout.activations == ("relu[0]",) and layout.kinds == ("relu",)
    z = X @ W1 + B1
    h = np.maximum(z, 0)
    logits = h @ W2 + B2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - np.eye(2)[Y]) / len(Y)  # d mean cross-entropy / d logits
    dw2, db2 = h.T @ dlogits, dlogits.sum(0)
    dz = (dlogits @ W2.T) * (z > 0)
    dw1, db1 = X.T @ dz, dz.sum(0)
    norm = lambda *gs: np.sqrt(sum(np.sum(g**2) for g in gs))
    np.testing.assert_allclose(stats["grad_norm"], [norm(dw1), norm(dw2)], rtol=1e-5)
    assert norm(db1) > 0 and norm(db2) > 0  # biases are not in the layer's norm
    np.testing.assert_allclose(stats["act_mean"], [h.mean()], rtol=1e-6)
    np.testing.assert_allclose(stats["act_std"], [h.std()], rtol=1e-6)
    assert (z[:, 1] < 0).all() and (z[:, [0, 2]] > 0).any(0).all()
    np.testing.assert_allclose(stats["dead"], [1 / 3])  # unit 1 of 3
    assert np.isnan(stats["saturated"][0])  # ReLU is unbounded


def test_sigmoid_saturation_fraction():
    _, stats = measure(TwoLayer("sigmoid"))
    s = 1 / (1 + np.exp(-(X @ W1 + B1)))
    expected = np.mean((s < 0.025) | (s > 0.975))
    np.testing.assert_allclose(stats["saturated"], [expected])
    np.testing.assert_allclose(stats["act_mean"], [s.mean()], rtol=1e-6)
    assert np.isnan(stats["dead"][0])  # dead units are a ReLU notion


def test_saturation_of_a_wide_tanh_layer_counts_large_pre_activations():
    w1 = W1 * 10.0  # |z| > atanh(0.95) = 1.83 saturates tanh
    params = variables()
    params["params"]["hidden"]["kernel"] = w1
    m = layer_stats.Measure(TwoLayer("tanh").apply)
    stats = jax.device_get(m(params, jnp.asarray(X), jnp.asarray(Y), jax.random.PRNGKey(0)))
    z = X @ w1 + B1
    np.testing.assert_allclose(stats["saturated"], [np.mean(np.abs(np.tanh(z)) > 0.95)])


def test_nothing_is_recorded_outside_a_measurement():
    model = TwoLayer("relu")
    _, cols = model.apply(variables(), X, train=True, mutable=[layer_stats.COLLECTION])
    assert cols == {}


@pytest.mark.parametrize("name", ["small_cnn", "resnet20", "mlp"])
def test_every_module_with_a_kernel_is_a_layer(name):
    model = models.create(name, num_classes=10)
    x = jnp.zeros((2, 32, 32, 3))
    v = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, train=False))
    m = layer_stats.Measure(model.apply)
    stats = jax.eval_shape(m, v, x, jnp.zeros((2,), jnp.int32), jax.random.PRNGKey(0))
    paths = jax.tree_util.tree_flatten_with_path(v["params"])[0]
    owners = {"/".join(k.key for k in path[:-1]) for path, _ in paths if path[-1].key == "kernel"}
    assert set(m.layout.layers) == owners and m.layout.layers[-1] == "head"
    assert stats["grad_norm"].shape == (len(owners),)
    assert m.layout.activations and stats["dead"].shape == (len(m.layout.activations),)


def test_run_records_layer_stats_at_init_and_every_epoch_without_changing_training(
    tmp_path, make_config
):
    plain = loop.run(make_config(epochs=2), str(tmp_path / "off"))
    config = make_config(epochs=2, layer_stats__enabled=True, layer_stats__probe_size=32)
    measured = loop.run(config, str(tmp_path / "on"))
    assert measured["test_loss"] == plain["test_loss"]  # training is the same
    lines = [json.loads(x) for x in (tmp_path / "on/metrics.jsonl").read_text().splitlines()]
    assert "layer_stats_init" in lines[0] and "layer_stats_init" not in lines[1]
    for stats in (lines[0]["layer_stats_init"], lines[0]["layer_stats"], lines[1]["layer_stats"]):
        assert stats["layers"] == ["dense0", "head"] and stats["activations"] == ["relu[0]"]
        assert len(stats["grad_norm"]) == 2 and all(g > 0 for g in stats["grad_norm"])
    assert lines[0]["layer_stats_init"]["grad_norm"] != lines[1]["layer_stats"]["grad_norm"]


def test_multi_seed_run_records_each_seed(tmp_path, make_config):
    config = make_config(epochs=1, num_seeds=2, layer_stats__enabled=True)
    loop.run(config, str(tmp_path))
    inits = []
    for seed in (0, 1):
        line = json.loads((tmp_path / f"seed_{seed}/metrics.jsonl").read_text().splitlines()[0])
        inits.append(line["layer_stats_init"]["grad_norm"])
    assert inits[0] != inits[1]
