"""Transfer learning: class subsets, freezing (zero updates, frozen batch norm), transplanting
a finished run's weights, penultimate features and the linear-SVM probe."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from cnnjax import config as config_lib
from cnnjax import models, pipeline, transfer
from cnnjax.data import Split
from cnnjax.train import loop
from cnnjax.train.trained import load_trained

CNN = {
    "model": "small_cnn",
    "model_args__small_cnn__widths": (4, 8),
    "model_args__small_cnn__convs_per_stage": 1,
    "model_args__small_cnn__hidden": 16,
}


def _split(labels):
    labels = np.asarray(labels, np.int32)
    images = np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1)
    return Split(images, labels)


def test_select_classes_keeps_order_and_relabels_in_the_given_order():
    out = pipeline.select_classes(_split([0, 3, 1, 3, 2, 1]), (3, 1))
    np.testing.assert_array_equal(out.images.ravel(), [1, 2, 3, 5])
    np.testing.assert_array_equal(out.labels, [0, 1, 0, 1])


def test_per_class_draws_a_balanced_subset_and_names_a_short_class():
    split = _split([0] * 5 + [1] * 3 + [2] * 4)
    out = pipeline.per_class(split, 3, seed=0)
    np.testing.assert_array_equal(np.bincount(out.labels), [3, 3, 3])
    assert np.all(np.diff(out.images.ravel().astype(int)) > 0)  # original order kept
    with pytest.raises(ValueError, match="class 1 has only 3"):
        pipeline.per_class(split, 4, seed=0)


def test_frozen_modules_are_the_first_layers_with_their_batch_norms():
    model = models.create("small_cnn", 3, widths=(4, 8), convs_per_stage=1, hidden=16)
    shape = (1, 8, 8, 1)
    layers = [("conv0_0",), ("conv1_0",), ("dense",), ("head",)]
    assert transfer.weight_layers(model, shape) == layers
    assert transfer.frozen_modules(model, shape, 0) == ()
    assert transfer.frozen_modules(model, shape, 1) == (("conv0_0",), ("bn0_0",))
    assert transfer.frozen_modules(model, shape, 3)[-1] == ("dense",)
    with pytest.raises(ValueError, match="at most 3 can be frozen"):
        transfer.frozen_modules(model, shape, 4)


def test_frozen_batch_norm_in_training_equals_inference():
    model = models.create("small_cnn", 3, widths=(4,), convs_per_stage=1, hidden=8)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 8, 8, 1))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    stats = jax.tree.map(lambda a: a + 0.5, variables["batch_stats"])  # not the batch's
    variables = {**variables, "batch_stats": stats}
    frozen = transfer.frozen_modules(model, x.shape, 2)
    apply = transfer.frozen_apply(model.apply, frozen)
    train_out, updates = apply(variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(train_out, model.apply(variables, x, train=False), rtol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, updates["batch_stats"], stats)
    # Unfrozen, the same call normalises by the batch and moves the running statistics.
    plain_out, moved = model.apply(variables, x, train=True, mutable=["batch_stats"])
    assert not np.allclose(plain_out, train_out)
    assert not np.allclose(moved["batch_stats"]["bn0_0"]["mean"], stats["bn0_0"]["mean"])


def test_frozen_modules_get_no_gradient_and_the_others_the_same():
    """stop_gradient at the frozen modules' outputs: zero data gradient for the frozen
    parameters, bit-for-bit the same gradient for every other one (nothing trainable lies
    upstream of the first layers)."""
    model = models.create("small_cnn", 3, widths=(4, 4), convs_per_stage=1, hidden=8)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 8, 8, 1))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    frozen = transfer.frozen_modules(model, x.shape, 2)
    assert [m[0] for m in frozen] == ["conv0_0", "bn0_0", "conv1_0", "bn1_0"]

    def grads(apply):
        def loss(params):
            out = apply({**variables, "params": params}, x, train=False)
            return jnp.sum(jax.nn.log_softmax(out)[:, 0])

        return jax.grad(loss)(variables["params"])

    plain, fixed = grads(model.apply), grads(transfer.frozen_apply(model.apply, frozen))
    for name in plain:
        if (name,) in frozen:
            jax.tree.map(lambda g: np.testing.assert_array_equal(g, 0.0), fixed[name])
            assert any(np.abs(g).max() > 0 for g in jax.tree.leaves(plain[name]))
        else:
            jax.tree.map(np.testing.assert_allclose, fixed[name], plain[name])


def test_transplant_copies_all_but_a_fresh_head_and_names_a_mismatch():
    target = {"params": {"conv": {"kernel": jnp.zeros((3, 3))}, "head": {"kernel": jnp.zeros(2)}}}
    source = {"params": {"conv": {"kernel": jnp.ones((3, 3))}, "head": {"kernel": jnp.ones(5)}}}
    out = transfer.transplant(target, source, reinit_head=True)
    np.testing.assert_array_equal(out["params"]["conv"]["kernel"], 1.0)
    np.testing.assert_array_equal(out["params"]["head"]["kernel"], 0.0)
    with pytest.raises(transfer.TransferError, match=r"params/head/kernel is \(5,\).*reinit_head"):
        transfer.transplant(target, source, reinit_head=False)
    source["params"]["conv"]["kernel"] = jnp.ones((3, 4))
    with pytest.raises(transfer.TransferError, match="params/conv/kernel"):
        transfer.transplant(target, source, reinit_head=True)


def test_linear_svm_probe_separates_separable_features():
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])

    def blobs(n):
        y = rng.integers(0, 3, n)
        return centres[y] + rng.normal(size=(n, 2)), y

    out = transfer.fit_linear_svm(blobs(90), blobs(30), blobs(60), cs=(0.01, 1.0), seed=0)
    assert out["test_accuracy"] == 1.0 and out["C"] in (0.01, 1.0)


def _flat(tree):
    return traverse_util.flatten_dict(jax.tree.map(np.asarray, tree))


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A small CNN trained on digits classes 0-4 (2 seeds)."""
    from tests.conftest import tiny_config

    workdir = str(tmp_path_factory.mktemp("source"))
    config = tiny_config(**CNN, num_seeds=2, dataset__classes=(0, 1, 2, 3, 4))
    summary = loop.run(config, workdir)
    assert summary["num_classes"] == 5 and summary["num_train"] < 1000
    return workdir


def test_fine_tune_freezes_first_layers_and_keeps_statistics(source_run, make_config, tmp_path):
    """Target: classes 5-8 (a new 4-class head), 10 examples each, first conv layer (and its
    BN) frozen, 2 seeds. Frozen variables end equal to the source's replica r; the rest moved."""
    config = make_config(
        **CNN,
        num_seeds=2,
        dataset__classes=(5, 6, 7, 8),
        dataset__train_per_class=10,
        transfer__init_from=source_run,
        transfer__freeze_layers=1,
        batch_size=16,
    )
    summary = loop.run(config, str(tmp_path))
    assert summary["num_train"] == 40 and summary["frozen_modules"] == ["conv0_0", "bn0_0"]
    assert summary["frozen_params"] == 3 * 3 * 1 * 4 + 2 * 4
    source = load_trained(source_run, replica=1).variables
    tuned = load_trained(str(tmp_path), replica=1).variables
    src, new = _flat(source), _flat(tuned)
    for key in src:
        if key[1] in ("conv0_0", "bn0_0"):
            np.testing.assert_array_equal(new[key], src[key], err_msg=str(key))
        elif key[1] != "head":
            assert not np.array_equal(new[key], src[key]), key
    assert new[("params", "head", "kernel")].shape[-1] == 4


def test_init_from_names_a_bad_source(make_config, tmp_path, source_run):
    with pytest.raises(config_lib.ConfigError, match="not a finished cnnjax run"):
        loop.run(make_config(transfer__init_from=str(tmp_path)), str(tmp_path / "a"))
    # An MLP cannot start from the CNN: the missing variable is named.
    with pytest.raises(config_lib.ConfigError, match="no variable params/dense0"):
        loop.run(make_config(transfer__init_from=source_run), str(tmp_path / "b"))
    with pytest.raises(config_lib.ConfigError, match="dataset.classes=.*classes 0..9"):
        loop.run(make_config(dataset__classes=(3, 10)), str(tmp_path / "c"))
    assert json.load(open(os.path.join(source_run, "config.json")))["dataset"]["classes"] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_probe_fits_an_svm_on_each_source_replica(source_run, make_config, tmp_path):
    from cnnjax.train import probe

    config = make_config(
        **CNN, num_seeds=2, dataset__classes=(5, 6, 7, 8, 9), transfer__init_from=source_run
    )
    summary = probe.run_probe(config, str(tmp_path))
    assert summary == json.load(open(tmp_path / "summary.json"))
    assert [s["seed"] for s in summary["per_seed"]] == [0, 1]
    assert all(s["C"] in probe.PROBE_CS and s["num_features"] == 16 for s in summary["per_seed"])
    assert summary["test_accuracy"] > 0.6  # 5 classes: chance is 0.2
    with pytest.raises(config_lib.ConfigError, match="trained 'small_cnn'"):
        probe.run_probe(make_config(transfer__init_from=source_run), str(tmp_path / "mlp"))
    # With a subset per seed, each seed's SVM fits its own 30 images per class.
    config.dataset.update(train_per_class=30, subset_per_seed=True)
    own = probe.run_probe(config, str(tmp_path / "own"))
    assert own["num_train"] == 150
    train_accuracies = [s["final_train_accuracy"] for s in own["per_seed"]]
    assert train_accuracies != [s["final_train_accuracy"] for s in summary["per_seed"]]
