"""The tasks through the one loop (cnnjax.tasks): their figures against independent
references, their replicas against separate runs, and their bad input as one-line errors
before any compile. (Resume after SIGKILL/SIGTERM: tests/experiments/test_cli.py; eight
devices: tests/train/test_parallel.py.)"""

import collections
import glob

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from cnnjax import data, metrics, pipeline, tasks
from cnnjax.config import ConfigError, validate
from cnnjax.data.flow import warp
from cnnjax.tasks import flow, genomic, segmentation, superres
from cnnjax.train import loop
from experiments.configs import flow as flow_config
from experiments.configs import genomic as genomic_config
from experiments.configs import segmentation as segmentation_config
from experiments.configs import superres as superres_config

QUICK = {
    "segmentation": lambda: segmentation_config.get_config("quick"),
    "superres": lambda: superres_config.get_config("quick"),
    "superres_espcn": lambda: superres_config.get_config("quick,espcn"),
    "flow": lambda: flow_config.get_config("quick"),
    "genomic": lambda: genomic_config.get_config("quick"),
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


def test_flow_pairs_are_the_warp_of_their_flow_and_evaluation_pairs_are_fixed(quick):
    """A pair's second frame is its first warped by its target flow; an evaluation image's
    flow depends on its identity alone (not its batch), validation and test flows differ, and
    training flows differ from step to step."""
    config = quick("flow")
    splits = tasks.get("flow").splits(config)
    fns = tasks.get("flow").batch_fns(config, _scale01(splits.train.images), splits)
    images, labels = jnp.asarray(splits.test.images[:6]), jnp.asarray(splits.test.labels[:6])
    frames, flows = fns.eval_batch(images, labels)
    assert frames.shape == (6, 8, 8, 2) and flows.shape == (6, 8, 8, 2)
    np.testing.assert_allclose(frames[..., 1:], warp(frames[..., :1], flows), atol=1e-6)
    _, later = fns.eval_batch(images[3:], labels[3:])  # the same images in another batch
    np.testing.assert_allclose(later, flows[3:], atol=1e-6)
    _, val_flows = fns.eval_batch(jnp.asarray(splits.val.images[:6]), splits.val.labels[:6])
    assert not np.allclose(val_flows, flows)
    step = lambda t: fns.train_batch(jax.random.PRNGKey(t), images, labels)[1]
    assert not np.allclose(step(0), step(1))


def test_zero_flow_figures_are_the_mean_flow_magnitude(quick):
    """Zero flow's EPE is the mean over pairs and pixels of |flow|, its loss the mean of
    flow^2 (over 37 pairs in padded batches of 16)."""
    config = quick("flow")
    test = tasks.get("flow").splits(config).test
    test = data.Split(test.images[:37], test.labels[:37])
    got = flow.zero_flow_figures(config, test, batch_size=16)
    fns = tasks.get("flow").batch_fns(config, _scale01(test.images), None)
    _, flows = fns.eval_batch(jnp.asarray(test.images), jnp.asarray(test.labels))
    flows = np.asarray(flows, np.float64)
    assert got["epe"] == pytest.approx(np.hypot(flows[..., 0], flows[..., 1]).mean(), rel=1e-5)
    assert got["loss"] == pytest.approx((flows**2).mean(), rel=1e-5)


def test_genomic_correlations_from_sums_match_numpy_and_ridge_scores_its_test_individuals(quick):
    """Pearson r from the five masked sums (over padded batches) equals np.corrcoef, with the
    phenotype and with the genetic value; the targets are the split's own individuals; ridge's
    figures are sklearn's Ridge on them."""
    config = quick("genomic")
    task = tasks.get("genomic")
    splits = task.splits(config)
    assert [len(s) for s in (splits.train, splits.val, splits.test)] == [240, 80, 80]
    assert splits.test.labels[0] == 320 and splits.train.images.shape[1:] == (1, 200, 1)
    fns = task.batch_fns(config, None, splits)
    test = data.Split(splits.test.images[:37], splits.test.labels[:37])
    images, labels, mask = pipeline.padded_batches(test, 16)
    predict = lambda x: jnp.sum(x[:, 0, :50, 0], axis=1, keepdims=True)  # any function of x
    totals = []
    for x, y, m in zip(images, labels, mask):
        inputs, targets = fns.eval_batch(jnp.asarray(x), jnp.asarray(y))
        totals.append(genomic.genomic_sums(predict(inputs), targets, jnp.asarray(m)))
    got = genomic.genomic_figures(jax.tree.map(lambda *v: sum(v), *totals))
    p = test.images[:, 0, :50, 0].astype(np.float64).sum(1) - 50.0
    y, g = (splits.tables[k][test.labels] for k in ("phenotype", "genetic_value"))
    assert float(got["r"]) == pytest.approx(np.corrcoef(p, y)[0, 1], abs=1e-5)
    assert float(got["r_genetic"]) == pytest.approx(np.corrcoef(p, g)[0, 1], abs=1e-5)
    ridge = genomic.ridge_figures(config, splits)
    population = genomic.simulate(config)
    X, pheno = population.genotypes.astype(np.float32), population.phenotypes
    alphas = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    fits = [Ridge(alpha=a).fit(X[:240], pheno[:240]) for a in alphas]
    best = max(fits, key=lambda f: np.corrcoef(f.predict(X[240:320]), pheno[240:320])[0, 1])
    assert ridge["r"] == pytest.approx(np.corrcoef(best.predict(X[320:]), pheno[320:])[0, 1])


def _scale01(images):
    return pipeline.Normalizer.fit(images, "scale01")


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
        (
            "segmentation",
            {"dataset__val_size": 0, "plateau__enabled": True, "plateau__metric": "val_loss"},
            "dataset.val_size must be > 0 when plateau or early_stopping is enabled",
        ),
        ("superres", {"task": "classification"}, "model: 'srcnn' outputs image, but task "),
        ("superres", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ("superres", {"superres__scale": 1}, "superres.scale must be an integer >= 2, got 1"),
        ("superres", {"superres__scale": 3}, "superres.scale=3: digits images of 8x8 pixels"),
        ("superres", {"superres__test_size": 9999}, "superres.test_size=9999: digits has only"),
        ("superres", {"dataset__normalize": "standardize"}, "dataset.normalize='standardize'"),
        ("superres", {"dataset__augment__horizontal_flip": True}, "dataset.augment: task"),
        ("flow", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ("flow", {"flow__grid": 1}, "flow.grid must be an integer >= 2, got 1"),
        ("flow", {"flow__sigma": -1.0}, "flow.sigma must be a number >= 0, got -1.0"),
        ("flow", {"flow__test_size": 9999}, "flow.test_size=9999: digits has only"),
        ("flow", {"model": "srcnn"}, "model: 'srcnn' outputs image, but task 'flow' trains"),
        ("flow", {"dataset__normalize": "standardize"}, "dataset.normalize='standardize'"),
        ("flow", {"eval_flip_average": True}, "eval_flip_average: task 'flow' would mirror"),
        ("genomic", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ("genomic", {"genomic__heritability": 0.0}, "genomic.heritability must be a number in"),
        ("genomic", {"genomic__num_qtl": 500}, "genomic.num_qtl=500: more causal loci than"),
        ("genomic", {"genomic__test_size": 300}, "genomic.num_individuals=400 leaves 20 training"),
        ("genomic", {"dataset__name": "mnist"}, "dataset.name: task 'genomic' simulates its"),
        ("genomic", {"model": "fcn"}, "model: 'fcn' outputs pixel_logits, but task 'genomic'"),
        ("genomic", {"genomic__val_size": 0}, "genomic.val_size must be an integer >= 1, got 0"),
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
@pytest.mark.parametrize("name", ["segmentation", "superres_espcn", "flow", "genomic"])
def test_each_replica_equals_a_separate_run_with_its_seed(tmp_path, quick, name):
    from test_loop import read_events  # the TFRecord reader of the loop's tests

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
    # TensorBoard shows every replica's task figures per epoch.
    folders = sorted(glob.glob(str(tmp_path / "seeds" / "seed_*" / "tensorboard")))
    assert len(folders) == 3
    for folder in folders:
        tags = collections.Counter(tag for tag, _, _ in read_events(folder))
        assert all(tags[f"val_{f}"] == 2 for f in task.figures), tags


@pytest.mark.slow
def test_segmentation_trains_above_chance_and_records_its_figures(tmp_path, quick):
    summary = loop.run(quick("segmentation", epochs=4), str(tmp_path))
    background = summary["per_class"]["recall"][0]
    assert summary["test_accuracy"] > 0.5 and background > 0.5  # most pixels are background
    assert 0 < summary["test_mean_iou"] < 1 and summary["best_val_mean_iou"] > 0
    assert summary["num_classes"] == 11 and summary["class_names"][0] == "background"
    assert jax.tree.leaves(summary["confusion_matrix"])  # pixels of 11 classes
    assert np.asarray(summary["confusion_matrix"]).shape == (11, 11)


@pytest.mark.parametrize("name", ["segmentation", "superres_espcn", "flow", "genomic"])
def test_the_speedrun_s_task_free_parts_train_every_task(tmp_path, quick, name):
    """Lookahead, the triangular schedule, the SGD family's decay, per-parameter lr factors and
    stops, and steps scanned in one compiled loop (equal to a call per step within float32
    rounding) on every task."""
    recipe = dict(
        epochs=2,
        steps_per_sync=3,
        lookahead__every=2,
        schedule__name="triangular",
        optimizer__name="nesterov",
        optimizer__sgd_weight_decay=1e-3,
        optimizer__lr_scales=(("*/bias", 2.0),),
        optimizer__stop_after_epochs=(("*/kernel", 1),),
    )
    task = tasks.get(quick(name).task)
    runs = [
        loop.run(quick(name, scan_steps=scan, **recipe), str(tmp_path / str(scan)))
        for scan in (False, True)
    ]
    for key in (f"test_{task.primary}", "final_train_loss"):
        assert np.isfinite(runs[0][key])
        # the loop's body may fuse differently: equal within float32 rounding
        np.testing.assert_allclose(runs[1][key], runs[0][key], rtol=1e-5, err_msg=key)
