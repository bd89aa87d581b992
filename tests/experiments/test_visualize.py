"""experiments.visualize on a finished tiny run; trained.load_trained restores what was trained."""

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.config import base_config
from cnnjax.train import errors, loop
from cnnjax.train.trained import load_trained

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A digits run of a small CNN with a global-average-pooling head (so CAM applies)."""
    workdir = str(tmp_path_factory.mktemp("run"))
    config = base_config()
    config.dataset.name = "digits"  # 8x8 grey images, embedded: no files needed
    config.dataset.val_size = 100
    config.model = "small_cnn"
    config.model_args.small_cnn.update(widths=(8, 16), convs_per_stage=1, head="gap")
    config.epochs = 2
    config.batch_size = 64
    summary = loop.run(config, workdir)
    return workdir, summary


def test_load_trained_restores_the_final_model(finished_run):
    workdir, summary = finished_run
    trained = load_trained(workdir)
    logits = trained.model.apply(
        trained.variables, trained.normalizer(jnp.asarray(trained.test_images)), train=False
    )
    accuracy = float(np.mean(np.argmax(np.asarray(logits), -1) == trained.test_labels))
    assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert len(trained.class_names) == 10


def test_load_trained_names_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(errors.WorkdirError, match="is not a cnnjax run folder"):
        load_trained(str(tmp_path))


@pytest.mark.slow
def test_visualize_writes_every_picture(finished_run, tmp_path):
    workdir, _ = finished_run
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.visualize",
            f"--workdir={workdir}",
            f"--out={tmp_path}",
            "--num_images=2",
            "--num_mistakes=4",
            "--class_index=1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("filters.png", "activations.png", "heatmaps.png", "mistakes.png"):
        assert os.path.getsize(tmp_path / name) > 1000, name
