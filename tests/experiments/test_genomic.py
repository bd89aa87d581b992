"""The genomic-prediction runner in QUICK mode, as a user runs it, and the regression step."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import models
from cnnjax.train.state import create_train_state
from cnnjax.train.steps import regression_step

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_regression_step_fits_a_linear_target():
    model = models.create("cnn1d", 1, widths=(4,), hidden=8)
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 1, 16, 1))
    y = x[:, 0, :, 0] @ jnp.linspace(-1.0, 1.0, 16)
    state = create_train_state(
        model, optax.adam(1e-2), optax.identity(), jax.random.PRNGKey(1), (1, 1, 16, 1)
    )
    step = jax.jit(regression_step)
    state, first = step(state, x, y)
    for _ in range(200):
        state, mse = step(state, x, y)
    assert float(mse) < 0.1 * float(first) and int(state.step) == 201


def run_quick(results_dir, *flags):
    """`python -m experiments.genomic` with the quick config, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.genomic",
            "--config=experiments/configs/genomic.py:quick",
            f"--config.results_dir={results_dir}",
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quick_run_writes_the_table(tmp_path):
    out = run_quick(tmp_path, "--config.epochs=2")
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.load(open(tmp_path / "results.json"))
    assert len(results["rows"]) == 2 and results["config"]["epochs"] == 2
    for row in results["rows"]:
        assert -1 <= row["cnn_r"] <= 1 and row["ridge_r"] > 0.5  # h2 = 0.8: ridge finds it
    table = open(tmp_path / "results.md").read()
    assert "| 0.8 | 0.0 |" in table
    assert os.path.getsize(tmp_path / "correlation_by_heritability.png") > 0
    assert np.isfinite([r["sample_heritability"] for r in results["rows"]]).all()


def test_config_variants():
    from experiments.configs import genomic

    full, quick = genomic.get_config(), genomic.get_config("quick")
    assert quick.num_individuals < full.num_individuals and quick.results_dir != full.results_dir
    assert full.val_size + full.test_size + full.batch_size <= full.num_individuals
    with pytest.raises(ValueError, match="unknown variant 'fast'"):
        genomic.get_config("fast")


def test_too_few_individuals_is_a_clear_error(tmp_path):
    out = run_quick(tmp_path, "--config.num_individuals=200")
    assert out.returncode != 0 and "leaves 40 training individuals" in out.stderr
