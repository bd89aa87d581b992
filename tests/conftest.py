"""Shared fixtures: a tiny, fast run config on the embedded digits data. Every test runs with
the runners' XLA flag defaults (`runtime.configure()`), and with oneDNN's convolutions (where
built) only where a test asks for impl='onednn': conv2d's 'auto' stays 'xla_cpu', so that a
test's numbers do not depend on which impl a timing on this machine picked; the tests of that
timing (tests/layers/test_conv_timing.py) turn it back on."""

import os

import pytest

from cnnjax import runtime
from cnnjax.config import base_config

runtime.configure()  # the runners' XLA flag defaults, before any test runs a JAX computation
os.environ.setdefault("CNNJAX_ONEDNN", "explicit")  # inherited by the tests' subprocesses


def tiny_config(**overrides):
    """Digits, a one-hidden-layer MLP, 2 epochs: compiles and trains in about a second."""
    c = base_config()
    c.dataset.name = "digits"
    c.dataset.val_size = 100
    c.model = "mlp"
    c.model_args.mlp.hidden_sizes = (32,)
    c.epochs = 2
    c.batch_size = 64
    c.eval_batch_size = 128
    c.optimizer.learning_rate = 0.05
    return with_overrides(c, **overrides)


def with_overrides(c, **overrides):
    """`c` with each `a__b=value` set as c.a.b = value; returns c."""
    for path, value in overrides.items():
        node = c
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c


@pytest.fixture
def override():
    """`override(config, a__b=value)`: config with c.a.b = value (with_overrides)."""
    return with_overrides


@pytest.fixture
def make_config():
    """`make_config(epochs=3, optimizer__name='adam')`: tiny_config with overrides."""
    return tiny_config


@pytest.fixture(scope="session")
def gan_classifier(tmp_path_factory):
    """The folder of a finished quick classifier run (an MLP on digits, seconds): what
    scores the samples of the GAN task's quick configs (gan.classifier)."""
    from cnnjax.train import loop
    from experiments.configs import gan

    folder = tmp_path_factory.mktemp("gan_classifier") / "run"
    loop.run(gan.classifier_config("quick"), str(folder), progress=False)
    return str(folder)


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory):
    """The embedded digits written as an image folder of 8x8 PNGs (train/ and test/)."""
    from cnnjax import data

    root = tmp_path_factory.mktemp("digits_folder") / "digits"
    data.write_image_folder(data.load("digits"), str(root))
    return str(root)
