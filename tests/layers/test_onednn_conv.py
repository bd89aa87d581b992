"""conv2d(impl='onednn'): oneDNN's convolutions through XLA's FFI against 'xla' on the shapes
of the models (the NumPy-loop cases are in test_layers_conv.py, which covers every impl), under
vmap and jit, in a training step; its refusals; and building the library.

The tests that run oneDNN skip where its library is not built (`python -m cnnjax.layers.onednn
build`, needs libdnnl-dev); those of the build and the refusals run everywhere."""

import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layers
from cnnjax.layers import onednn
from cnnjax.layers.onednn import library

needs_onednn = pytest.mark.skipif(
    not onednn.available(),
    reason="oneDNN convolutions not built (apt-get install libdnnl-dev; "
    "python -m cnnjax.layers.onednn build)",
)

# (input shape, kernel shape, strides, padding, dilation, groups): ResNet's and LeNet-5's
# layers at small batch, a strided 1x1 projection, asymmetric padding, depthwise.
CASES = [
    ((2, 9, 9, 5), (3, 3, 5, 7), 1, "SAME", 1, 1),
    ((2, 9, 10, 5), (3, 3, 5, 8), 2, "SAME", 1, 1),
    ((2, 10, 9, 4), (3, 2, 4, 6), 1, "VALID", 2, 1),
    ((3, 11, 9, 3), (5, 5, 3, 4), (2, 1), ((1, 2), (0, 3)), (2, 1), 1),
    ((2, 8, 8, 16), (1, 1, 16, 32), 2, "SAME", 1, 1),
    ((2, 28, 28, 1), (5, 5, 1, 6), 1, "SAME", 1, 1),
    ((2, 8, 8, 6), (3, 3, 2, 9), 1, "SAME", 1, 3),
    ((2, 8, 8, 8), (3, 3, 1, 16), 2, "SAME", 1, 8),
]


def assert_close(actual, expected):
    scale = float(jnp.max(jnp.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale)


@needs_onednn
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation, groups", CASES)
def test_values_and_gradients_match_xla(x_shape, k_shape, strides, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x, k = (rng.standard_normal(s).astype(np.float32) for s in (x_shape, k_shape))
    kw = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    y, ours_vjp = jax.vjp(jax.jit(lambda x, k: layers.conv2d(x, k, impl="onednn", **kw)), x, k)
    y_ref, xla_vjp = jax.vjp(lambda x, k: layers.conv2d(x, k, impl="xla", **kw), x, k)
    assert y.shape == y_ref.shape
    assert_close(y, y_ref)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    for grad, grad_ref in zip(ours_vjp(dy), xla_vjp(dy)):
        assert_close(grad, grad_ref)


@needs_onednn
def test_vmap_equals_a_loop_over_the_batch_of_calls():
    """vmap (as multi-seed replicas use it): one oneDNN call per member, the same values."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 8, 8, 4)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 4, 5)).astype(np.float32)

    def loss(x, k):
        return jnp.sum(jnp.tanh(layers.conv2d(x, k, strides=2, impl="onednn")))

    grads = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(x, k)
    for i in range(3):
        expected = jax.grad(lambda x, k: loss(x, k), argnums=(0, 1))(x[i], k[i])
        for a, b in zip(grads, expected):
            np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6)


@needs_onednn
def test_a_lenet5_training_step_equals_xla_cpu():
    """The registered LeNet-5, one SGD step: loss and updated parameters as with 'xla_cpu'."""
    from cnnjax import models

    x = np.random.default_rng(2).standard_normal((4, 28, 28, 1)).astype(np.float32)
    labels = np.arange(4) % 10
    results = {}
    for impl in ("xla_cpu", "onednn"):
        model = models.create("lenet5", num_classes=10, conv_impl=impl)
        params = model.init(jax.random.PRNGKey(0), x, train=False)["params"]

        def loss(params):
            logits = model.apply({"params": params}, x, train=False)
            return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[jnp.arange(4), labels])

        value, grads = jax.jit(jax.value_and_grad(loss))(params)
        results[impl] = value, jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    np.testing.assert_allclose(results["onednn"][0], results["xla_cpu"][0], rtol=1e-5)
    for a, b in zip(*(jax.tree.leaves(results[i][1]) for i in ("onednn", "xla_cpu"))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@needs_onednn
def test_refuses_other_dtypes_and_forward_mode():
    x, k = jnp.ones((1, 6, 6, 4), jnp.bfloat16), jnp.ones((3, 3, 4, 4), jnp.bfloat16)
    with pytest.raises(ValueError, match=r"float32 only, got input bfloat16"):
        layers.conv2d(x, k, impl="onednn")
    x, k = x.astype(jnp.float32), k.astype(jnp.float32)
    with pytest.raises(TypeError, match="forward-mode"):  # a custom VJP: jax.jvp is refused
        jax.jvp(lambda x: layers.conv2d(x, k, impl="onednn"), (x,), (x,))


def test_turned_off_by_the_environment_variable(monkeypatch):
    monkeypatch.setenv("CNNJAX_ONEDNN", "off")
    assert not onednn.available()
    assert layers.resolve_conv_impl("auto") == layers.AUTO_CONV_IMPL[jax.default_backend()]
    assert "onednn" not in layers.available_conv_impls()
    with pytest.raises(onednn.OneDNNUnavailable, match=r"turned off \(\$CNNJAX_ONEDNN=off\)"):
        layers.conv2d(jnp.ones((1, 6, 6, 4)), jnp.ones((3, 3, 4, 4)), impl="onednn")


def test_a_missing_library_is_named_with_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNJAX_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CNNJAX_ONEDNN", "")
    assert not library.library_path().exists()
    with pytest.raises(onednn.OneDNNUnavailable, match=r"not built .*cnnjax.layers.onednn build"):
        library.load()
    assert not onednn.available()


def test_a_failed_build_says_why_and_leaves_no_library(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNJAX_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(onednn.OneDNNUnavailable, match=r"no C\+\+ compiler 'no-such-compiler-xyz'"):
        library.build()
    monkeypatch.setenv("CXX", "false")  # a compiler that fails
    with pytest.raises(onednn.OneDNNUnavailable, match=r"building dnnl_conv.cc failed"):
        library.build()
    assert not library.library_path().exists()
    assert list((tmp_path / "onednn").glob("*/*")) == []  # no partial file left


@pytest.mark.parametrize("extra, returncode, output", [
    (["--if-available"], 0, "not built .*conv2d uses pure JAX"),
    ([], 1, "no C\\+\\+ compiler"),
])  # fmt: skip
def test_the_build_command_without_a_compiler(tmp_path, extra, returncode, output):
    env = {"CNNJAX_CACHE_DIR": str(tmp_path), "CXX": "no-such-compiler-xyz", "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "cnnjax.layers.onednn", "build", *extra],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == returncode, result.stderr
    assert re.search(output, result.stdout + result.stderr)


def test_the_build_key_changes_with_the_compiler(monkeypatch):
    """A library built by another compiler command (or jaxlib, or source) is never loaded."""
    key = library.build_key()
    monkeypatch.setenv("CXX", "clang++")
    assert library.build_key() != key


@needs_onednn
def test_call_stats_count_each_pass():
    """library.call_stats: one call per pass for a jitted gradient, with its time."""
    x, k = jnp.ones((1, 6, 6, 4)), jnp.ones((3, 3, 4, 5))
    grad = jax.jit(jax.grad(lambda x, k: jnp.sum(layers.conv2d(x, k, impl="onednn") ** 2), (0, 1)))
    grad(x, k)  # compiled and run once
    before = library.call_stats()
    jax.block_until_ready(grad(x, k))
    after = library.call_stats()
    for name in library.PASSES:
        assert after[name]["calls"] == before[name]["calls"] + 1, name
        assert after[name]["seconds"] > before[name]["seconds"], name


def test_an_unwritable_cache_folder_is_named(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("CNNJAX_CACHE_DIR", str(blocker))
    with pytest.raises(onednn.OneDNNUnavailable, match=r"cannot write the oneDNN library to"):
        library.build()


@needs_onednn
def test_repeated_gradients_are_bitwise_equal():
    """Same inputs, same numbers (a resumed run repeats its steps exactly): oneDNN's
    multithreaded reductions run in a fixed order."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 16, 16, 16)).astype(np.float32)
    k = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    loss = lambda x, k: jnp.sum(jnp.tanh(layers.conv2d(x, k, strides=2, impl="onednn")))
    grad = jax.jit(jax.grad(loss, (0, 1)))
    first = grad(x, k)
    for _ in range(3):
        for a, b in zip(grad(x, k), first):
            np.testing.assert_array_equal(a, b)
