"""The tasks through the one loop (cnnjax.tasks): their figures against independent
references, their replicas against separate runs, and their bad input as one-line errors
before any compile. (Resume after SIGKILL/SIGTERM: tests/experiments/test_cli.py; eight
devices: tests/train/test_parallel.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import data, metrics, tasks
from cnnjax.config import ConfigError, validate
from cnnjax.tasks import segmentation, superres
from cnnjax.train import loop
from experiments.configs import segmentation as segmentation_config
from experiments.configs import superres as superres_config

QUICK = {
    "segmentation": lambda: segmentation_config.get_config("quick"),
    "superres": lambda: superres_config.get_config("quick"),
    "superres_espcn": lambda: superres_config.get_config("quick,espcn"),
}


@pytest.fixture
def quick(override):
    """`quick(name, a__b=value)`: the quick config of `name` with c.a.b = value."""
    return lambda name, **overrides: override(QUICK[name](), **overrides)


def test_segmentation_figures_match_the_numpy_scores():
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 50, (5, 5)).astype(np.int32)
    confusion[3] = 0  # a class absent from the truth ...
    confusion[:, 3] = 0  # ... and from the predictions: no IoU, no recall
    total = {"confusion": jnp.asarray(confusion), "loss_sum": 1.0, "correct": 1.0, "count": 2.0}
    got = segmentation.segmentation_figures(total)
    want = metrics.segmentation_scores(confusion)
    assert float(got["mean_iou"]) == pytest.approx(want["mean_iou"], rel=1e-6)
    assert float(got["mean_class_accuracy"]) == pytest.approx(want["mean_class_accuracy"], rel=1e-6)


def test_bicubic_figures_are_the_per_image_means_over_padded_batches():
    """PSNR = 10 log10(1 / MSE) per image (pixels in [0, 1]), averaged over the images; 37
    images in batches of 16 (the last one padded and masked) add up exactly."""
    images = np.random.default_rng(1).integers(0, 256, (37, 8, 8, 1)).astype(np.uint8)
    split = data.Split(images, np.zeros(37, np.int32))
    got = superres.bicubic_figures(split, 2, batch_size=16)
    y = images.astype(np.float32) / 255
    up = np.asarray(superres.bicubic_baseline(superres.downscale(jnp.asarray(y), 2), 2))
    mse = ((up - y) ** 2).mean(axis=(1, 2, 3))
    assert got["loss"] == pytest.approx(mse.mean(), rel=1e-5)
    assert got["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)


def test_superres_models_read_their_own_resolution(quick):
    espcn, srcnn = quick("superres_espcn"), quick("superres")
    task = tasks.get("superres")
    assert task.input_shape(espcn, (8, 8, 1)) == (1, 4, 4, 1)
    assert task.model_overrides(espcn)["scale"] == 2
    assert task.input_shape(srcnn, (8, 8, 1)) == (1, 8, 8, 1)
    assert "scale" not in task.model_overrides(srcnn)


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("segmentation", {"task": "detection"}, "task: unknown task 'detection'; valid task names"),
        ("segmentation", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ("segmentation", {"segmentation__canvas_size": 0}, "segmentation.canvas_size must be"),
        ("segmentation", {"segmentation__canvas_size": 4}, "segmentation.canvas_size=4: digits"),
        ("segmentation", {"model": "lenet5"}, "model: 'lenet5' outputs logits, but task"),
        ("segmentation", {"mixing__mixup_alpha": 0.2}, "mixing: task 'segmentation' mixes"),
        (
            "segmentation",
            {"early_stopping__enabled": True, "early_stopping__metric": "val_psnr"},
            "early_stopping.metric: task 'segmentation' validates val_loss, val_accuracy, val_m",
        ),
        ("superres", {"task": "classification"}, "model: 'srcnn' outputs image, but task "),
        ("superres", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ("superres", {"superres__scale": 1}, "superres.scale must be an integer >= 2, got 1"),
        ("superres", {"superres__scale": 3}, "superres.scale=3: digits images of 8x8 pixels"),
        ("superres", {"superres__test_size": 9999}, "superres.test_size=9999: digits has only"),
        ("superres", {"dataset__normalize": "standardize"}, "dataset.normalize='standardize'"),
        ("superres", {"dataset__augment__horizontal_flip": True}, "dataset.augment: task"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(tmp_path, quick, name, overrides, message):
    config = quick(name, **overrides)
    with pytest.raises(ConfigError, match=message) as e:
        validate(config)
        loop.run(config, str(tmp_path))  # the data checks: before any compile
    assert "\n" not in str(e.value)
    assert not (tmp_path / "checkpoints").exists()


def test_a_classifier_config_on_a_pixel_model_names_the_task_to_set(quick):
    config = quick("segmentation", task="classification")
    with pytest.raises(ConfigError, match="set task to one of: segmentation"):
        validate(config)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["segmentation", "superres_espcn"])
def test_each_replica_equals_a_separate_run_with_its_seed(tmp_path, quick, name):
    config = lambda **kw: quick(name, epochs=2, **kw)
    task = tasks.get(config().task)
    summary = loop.run(config(seed=3, num_seeds=3), str(tmp_path / "seeds"))
    assert summary["task"] == task.name and summary["seeds"] == [3, 4, 5]
    figures = [f"test_{f}" for f in task.figures] + [f"best_val_{task.primary}"]
    for replica in summary["per_seed"]:
        separate = loop.run(config(seed=replica["seed"]), str(tmp_path / f"s{replica['seed']}"))
        for key in figures + ["final_train_loss"]:
            np.testing.assert_allclose(replica[key], separate[key], rtol=2e-4, err_msg=key)
    values = [r[f"test_{task.primary}"] for r in summary["per_seed"]]
    assert summary[f"test_{task.primary}"] == pytest.approx(np.mean(values))
    assert len({round(v, 6) for v in values}) == 3  # the seeds differ


@pytest.mark.slow
def test_segmentation_trains_above_chance_and_records_its_figures(tmp_path, quick):
    summary = loop.run(quick("segmentation", epochs=4), str(tmp_path))
    background = summary["per_class"]["recall"][0]
    assert summary["test_accuracy"] > 0.5 and background > 0.5  # most pixels are background
    assert 0 < summary["test_mean_iou"] < 1 and summary["best_val_mean_iou"] > 0
    assert summary["num_classes"] == 11 and summary["class_names"][0] == "background"
    assert jax.tree.leaves(summary["confusion_matrix"])  # pixels of 11 classes
    assert np.asarray(summary["confusion_matrix"]).shape == (11, 11)
