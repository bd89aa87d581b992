"""The super-resolution runner in QUICK mode, as a user runs it: results, resume, errors."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import metrics, models
from cnnjax.train.state import create_train_state
from cnnjax.train.steps import regression_step
from experiments import superres


def test_quick_run_writes_results_and_a_rerun_skips_finished_trainings(tmp_path, quick_runner):
    out = quick_runner("superres", tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.load(open(tmp_path / "results.json"))["rows"]
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("bicubic", None),
        ("srcnn", 0),
        ("srcnn", 1),
        ("espcn", 0),
        ("espcn", 1),
    ]
    for r in rows:
        assert 5 < r["final"]["psnr"] < 60 and 0 < r["final"]["ssim"] <= 1
    table = open(tmp_path / "results.md").read()
    assert "| digits | x2 | bicubic |" in table and "| digits | x2 | espcn |" in table
    for png in ("psnr_gain_by_scale.png", "superres_digits_x2.png"):
        assert os.path.getsize(tmp_path / png) > 0
    again = quick_runner("superres", tmp_path)
    assert again.returncode == 0 and again.stdout.count("finished before") == 4
    assert json.load(open(tmp_path / "results.json"))["rows"] == rows


def test_bad_settings_are_clear_errors(tmp_path, quick_runner):
    out = quick_runner("superres", tmp_path, "--config.scales=(3,)")
    assert out.returncode != 0 and "8x8 pixels cannot be downscaled by 3" in out.stderr
    out = quick_runner("superres", tmp_path, "--config.models=('fcn',)")
    assert out.returncode != 0 and "'fcn' is not an image model" in out.stderr
    out = quick_runner("superres", tmp_path, "--config.test_size=100000")
    assert out.returncode != 0 and "test_size=100000: digits has only" in out.stderr


def test_downscale_then_bicubic_keeps_a_constant_image_and_psnr_is_exact():
    x = jnp.full((2, 8, 8, 3), 0.25)
    low = superres.downscale(x, 2)
    assert low.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(low, 0.25, atol=1e-6)
    noisy = x.at[:, 0, 0, 0].add(0.5)  # one pixel off by 0.5: MSE = 0.25 / 192
    psnr = metrics.image_scores(noisy, x)["psnr"]
    np.testing.assert_allclose(psnr, 10 * np.log10(192 / 0.25), rtol=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        metrics.image_scores(x, x[:1])


def test_regression_step_fits_an_image_to_image_map():
    """The shared regression step trains an image model: ESPCN learns x2 nearest up-sampling."""
    model = models.create("espcn", 1, widths=(8, 8))
    x = jax.random.uniform(jax.random.PRNGKey(0), (16, 4, 4, 1))
    y = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    state = create_train_state(
        model, optax.adam(1e-2), optax.identity(), jax.random.PRNGKey(1), (1, 4, 4, 1)
    )
    step = jax.jit(regression_step)
    state, first = step(state, x, y)
    for _ in range(150):
        state, mse = step(state, x, y)
    assert float(mse) < 0.3 * float(first)
    with pytest.raises(ValueError, match=r"outputs \(16, 8, 8, 1\) but targets \(16, 4, 4, 1\)"):
        step(state, x, x)
