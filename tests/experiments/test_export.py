"""A run exported as StableHLO gives the live model's logits for any batch size."""

import subprocess
import sys

import jax
import numpy as np
from cli_runs import ROOT

from cnnjax import data, export
from cnnjax.train import loop
from cnnjax.train.trained import load_trained


def test_the_exported_function_is_the_live_model_with_its_preprocessing(tmp_path, make_config):
    # Batch norm (running statistics at inference) and a pixel permutation to be re-applied.
    config = make_config(
        epochs=1,
        dataset__permute_pixels=True,
        model="small_cnn",
        model_args__small_cnn__widths=(4, 8),
        model_args__small_cnn__hidden=8,
    )
    loop.run(config, str(tmp_path / "run"))
    trained = load_trained(str(tmp_path / "run"))
    blob = export.stablehlo(trained).serialize()
    restored = jax.export.deserialize(bytearray(blob))
    raw = data.load("digits").test.images  # as read, before the run's pixel permutation
    inputs = trained.normalizer(trained.test_images)
    live = trained.model.apply(trained.variables, inputs, train=False)
    for n in (1, 7):
        np.testing.assert_allclose(restored.call(raw[:n]), live[:n], rtol=1e-5, atol=1e-5)


def test_the_runner_writes_the_file_and_names_a_bad_folder(tmp_path, make_config):
    loop.run(make_config(epochs=1), str(tmp_path / "run"))
    runner = [sys.executable, "-m", "experiments.export"]
    done = subprocess.run(
        runner + [f"--workdir={tmp_path}/run"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "uint8 images bx8x8x1 -> logits 10 classes" in done.stdout
    blob = (tmp_path / "run" / "export" / "model.stablehlo").read_bytes()
    assert jax.export.deserialize(bytearray(blob)).call(np.zeros((2, 8, 8, 1), np.uint8)).shape
    bad = subprocess.run(
        runner + [f"--workdir={tmp_path}/none"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().endswith(f"{tmp_path}/none is not a cnnjax run folder")
