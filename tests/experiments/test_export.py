"""A run exported as StableHLO gives the live model's logits for any batch size; so do its
SavedModel (in TensorFlow) and ONNX model (in onnxruntime) where their extras are installed."""

import importlib.util
import subprocess
import sys

import jax
import numpy as np
import pytest
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


def _trained_bn_cnn(tmp_path, make_config):
    config = make_config(
        epochs=1,
        model="small_cnn",
        model_args__small_cnn__widths=(4, 8),
        model_args__small_cnn__hidden=8,
    )
    loop.run(config, str(tmp_path / "run"))
    trained = load_trained(str(tmp_path / "run"))
    live = trained.model.apply(
        trained.variables, trained.normalizer(trained.test_images), train=False
    )
    return trained, np.asarray(trained.test_images), np.asarray(live)


def test_a_savedmodel_gives_the_live_logits_in_tensorflow(tmp_path, make_config):
    tf = pytest.importorskip("tensorflow")
    trained, images, live = _trained_bn_cnn(tmp_path, make_config)
    export.savedmodel(trained, str(tmp_path / "saved"))
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    for n in (1, 7):
        out = serve(images=tf.constant(images[:n]))["output_0"].numpy()
        np.testing.assert_allclose(out, live[:n], rtol=1e-5, atol=1e-5)


def test_an_onnx_model_gives_the_live_logits_in_onnxruntime(tmp_path, make_config):
    pytest.importorskip("jax2onnx")
    ort = pytest.importorskip("onnxruntime")
    trained, images, live = _trained_bn_cnn(tmp_path, make_config)
    session = ort.InferenceSession(export.onnx(trained).SerializeToString())
    for n in (1, 7):
        (out,) = session.run(["logits"], {"images": images[:n]})
        np.testing.assert_allclose(out, live[:n], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", ["savedmodel", "onnx"])
def test_a_format_without_its_extra_is_refused_in_one_line(tmp_path, make_config, fmt):
    module = export.EXTRAS[fmt][0]
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed")
    loop.run(make_config(epochs=1), str(tmp_path / "run"))
    runner = [sys.executable, "-m", "experiments.export", f"--workdir={tmp_path}/run"]
    done = subprocess.run(runner + [f"--format={fmt}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"pip install -e '.[{fmt}]'" in done.stderr.strip().splitlines()[-1]
