"""Predict: a run's own preprocessing on image files, its errors, and the runner's CSV."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from cli_runs import ROOT
from PIL import Image

from cnnjax import data, predict
from cnnjax.config import base_config
from cnnjax.train import loop
from cnnjax.train.errors import WorkdirError
from cnnjax.train.trained import load_trained


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A tiny digits run with a pixel permutation, its test images written as PNGs."""
    root = tmp_path_factory.mktemp("predict")
    config = base_config()
    config.update(model="mlp", epochs=1, batch_size=64)
    config.dataset.update(name="digits", val_size=100, permute_pixels=True)
    config.model_args.mlp.hidden_sizes = (32,)
    loop.run(config, str(root / "run"))
    raw = data.load("digits").test  # as read, before the run's permutation
    (root / "images").mkdir()
    for i in range(5):
        Image.fromarray(raw.images[i, :, :, 0], "L").save(root / "images" / f"digit{i}.png")
    return root, raw


def test_predictions_equal_the_live_model_on_the_run_test_images(digits_run):
    root, raw = digits_run
    predictor = predict.Predictor.load(str(root / "run"))
    paths = [str(root / "images" / f"digit{i}.png") for i in range(5)]
    images = predictor.read(paths)
    trained = load_trained(str(root / "run"))
    np.testing.assert_array_equal(images, trained.test_images[:5])  # permuted as the run's
    live = trained.model.apply(trained.variables, trained.normalizer(images), train=False)
    np.testing.assert_allclose(
        predictor.probabilities(images), np.asarray(jax_softmax(live)), rtol=1e-5, atol=1e-6
    )
    classes, top = predict.top_k(predictor.probabilities(images), 3)
    assert classes.shape == (5, 3) and (np.diff(top, axis=1) <= 0).all()


def jax_softmax(x):
    import jax

    return jax.nn.softmax(x, axis=-1)


def test_bad_paths_and_images_name_the_file(digits_run, tmp_path):
    root, _ = digits_run
    predictor = predict.Predictor.load(str(root / "run"))
    with pytest.raises(predict.PredictError, match="missing.png: no such file"):
        predict.image_paths([str(tmp_path / "missing.png")])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(predict.PredictError, match="notes.txt: not an image file"):
        predict.image_paths([str(tmp_path / "notes.txt")])
    with pytest.raises(predict.PredictError, match="no image files"):
        predict.image_paths([str(tmp_path)])
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "tall.png")
    with pytest.raises(predict.PredictError, match=r"tall.png: 8x9 pixels; .* takes 8x8"):
        predictor.read([str(tmp_path / "tall.png")])
    resized = predict.Predictor.load(str(root / "run"), resize=True)
    assert resized.read([str(tmp_path / "tall.png")]).shape == (1, 8, 8, 1)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(predict.PredictError, match="colour.png: a rgb image; .* grayscale"):
        predictor.read([str(tmp_path / "colour.png")])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(predict.PredictError, match="broken.png: not a readable image"):
        predictor.read([str(tmp_path / "broken.png")])
    with pytest.raises(WorkdirError, match="kept no best epoch"):
        predict.Predictor.load(str(root / "run"), best=True)
    with pytest.raises(WorkdirError, match="not a cnnjax run folder"):
        predict.Predictor.load(str(tmp_path))


def test_the_runner_prints_top_k_and_writes_the_csv(digits_run, tmp_path):
    root, _ = digits_run
    out = tmp_path / "p.csv"
    runner = [
        sys.executable,
        "-m",
        "experiments.predict",
        f"--workdir={root}/run",
        "--top_k=2",
        f"--output={out}",
    ]
    done = subprocess.run(runner + [str(root / "images")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["path", "class_1", "probability_1", "class_2", "probability_2"]
    assert len(rows) == 6 and rows[1][0].endswith("digit0.png")
    assert f"{rows[1][0]}: {rows[1][1]} " in done.stdout
    bad = subprocess.run(
        runner + [str(tmp_path / "nope.png")], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "nope.png: no such file or folder" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("pipeline", ["memory", "stream"])
def test_a_folder_run_trains_and_predicts_with_its_resize_policy(tmp_path, pipeline):
    from image_folders import write_folder, write_image

    root = write_folder(tmp_path / "pets", per_class=10)
    (tmp_path / "pets" / "dog" / "notes.txt").write_text("x")  # a stray file, skipped
    config = base_config()
    config.update(model="mlp", epochs=2, batch_size=8)
    config.model_args.mlp.hidden_sizes = (16,)
    config.dataset.update(
        name="folder",
        data_dir=root,
        image_size=6,
        val_size=0,
        skip_bad_images=True,
        cache_dir=str(tmp_path / "cache"),
        pipeline=pipeline,
    )
    summary = loop.run(config, str(tmp_path / "run"))
    assert summary["pipeline"] == pipeline
    assert summary["class_names"] == ["cat", "dog", "fish"] and summary["image_shape"] == [6, 6, 3]
    assert summary["skipped_files"] == 1 and summary["skipped"][0]["path"].endswith("notes.txt")
    assert summary["num_test"] == 6 and summary["test_accuracy"] == 1.0  # colours apart
    write_image(str(tmp_path / "big_fish.png"), 2, size=(40, 30))  # any size: resized
    predictor = predict.Predictor.load(str(tmp_path / "run"))
    classes, _ = predict.top_k(
        predictor.probabilities(predictor.read([str(tmp_path / "big_fish.png")])), 1
    )
    assert predictor.class_names[classes[0, 0]] == "fish"
