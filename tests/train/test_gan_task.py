"""The GAN task through the one loop (cnnjax.tasks.gan): its sample scores against NumPy's
(cnnjax.metrics.sample_scores) over padded batches and over a trained run's own samples, its
replicas against separate runs, and its bad input as one-line errors before any compile.
(Resume after SIGKILL/SIGTERM: tests/experiments/test_cli.py; eight devices:
tests/train/test_parallel.py.)"""

import collections
import glob
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import metrics, tasks
from cnnjax.config import ConfigError, validate
from cnnjax.tasks.gan import real_image_figures, sample_figures, sample_sums
from cnnjax.train import gan as gan_lib
from cnnjax.train import loop
from cnnjax.train.trained import load_trained
from experiments.configs import gan as gan_config


@pytest.fixture
def gan_quick(override, gan_classifier):
    """`gan_quick(variant, a__b=value)`: the quick GAN config ('quick,<variant>'), scored by
    the quick classifier, with c.a.b = value."""

    def make(variant="", **overrides):
        c = gan_config.get_config(",".join(v for v in ("quick", variant) if v))
        c.gan.classifier = gan_classifier
        return override(c, **overrides)

    return make


def test_sample_scores_from_masked_sums_over_batches_equal_numpy_over_the_samples():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(37, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    asked = rng.integers(0, 10, size=37)
    loss = rng.uniform(size=37)
    padded = lambda a: np.concatenate([a, np.zeros((3, *a.shape[1:]), a.dtype)])
    mask = np.concatenate([np.ones(37), np.zeros(3)]).astype(np.float32)
    batch = lambda a, i, dtype=jnp.float32: jnp.asarray(padded(a)[i : i + 8], dtype)
    batches = [
        sample_sums(batch(probs, i), batch(asked, i, jnp.int32), batch(loss, i), mask[i : i + 8])
        for i in range(0, 40, 8)
    ]
    total = jax.tree.map(lambda *v: sum(v), *batches)
    found = {k: float(v) for k, v in sample_figures(total).items()}
    for name, value in metrics.sample_scores(probs).items():
        assert found[name] == pytest.approx(value, rel=1e-5), name
    assert found["class_accuracy"] == pytest.approx(np.mean(probs.argmax(1) == asked))
    assert found["loss"] == pytest.approx(loss.mean(), rel=1e-6)
    assert found["count"] == 37


@pytest.mark.parametrize("variant", ["", "stackgan"])
def test_a_runs_test_figures_are_numpys_scores_of_its_own_test_samples(
    tmp_path, gan_quick, gan_classifier, variant
):
    summary = loop.run(gan_quick(variant), str(tmp_path / "run"))
    trained = load_trained(str(tmp_path / "run"))
    config = trained.config
    k = tasks.of(config).conditioning(config)
    assert k == (10 if variant else 0) and summary["task"] == "gan"
    # Test sample i: noise from (eval_seed, identity 2 * 2^24 + i), class i mod 10.
    identities = 2 * (1 << 24) + np.arange(config.gan.test_samples)
    key = jax.random.PRNGKey(config.gan.eval_seed)
    z = jnp.stack([jax.random.normal(jax.random.fold_in(key, int(i)), (8,)) for i in identities])
    y = jnp.arange(len(z)) % 10 if k else None
    apply_fns = [g.apply for g, _, _ in trained.model.stages()]
    samples = gan_lib.sample(apply_fns, trained.variables["generators"], z, y, k)
    judge = load_trained(gan_classifier)
    logits = judge.model.apply(
        judge.variables, judge.normalizer((samples + 1) * 127.5), train=False
    )
    probs = np.asarray(jax.nn.softmax(logits), np.float64)
    for name, value in metrics.sample_scores(probs).items():
        assert summary[f"test_{name}"] == pytest.approx(value, rel=1e-4), name
    if k:
        assert summary["test_class_accuracy"] == pytest.approx(np.mean(probs.argmax(1) == y))
    else:
        assert summary["test_class_accuracy"] is None  # asked for no class
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        history = [json.loads(line) for line in f]
    assert [r["epoch"] for r in history] == [1]  # per-epoch figures, as for every task
    assert history[0]["val_inception_score"] >= 1 - 1e-5 and history[0]["train_d_loss"] > 0


def test_real_images_score_as_numpy_scores_the_classifiers_probabilities(gan_quick, gan_classifier):
    config = gan_quick()
    found = real_image_figures(config)
    judge = load_trained(gan_classifier)
    n = config.gan.test_samples
    images, labels = judge.test_images[:n], judge.test_labels[:n]
    logits = judge.model.apply(judge.variables, judge.normalizer(jnp.asarray(images)), train=False)
    probs = np.asarray(jax.nn.softmax(logits), np.float64)
    for name, value in metrics.sample_scores(probs).items():
        assert found[name] == pytest.approx(value, rel=1e-4), name
    assert found["class_accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    assert "loss" not in found


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"task": "tracking"}, "task: unknown task 'tracking'; valid task names"),
        ({"gan__latent": 0}, "gan.latent must be an integer >= 1, got 0"),
        ({"gan__test_samples": 0}, "gan.test_samples must be an integer >= 1, got 0"),
        ({"gan__classifier": ""}, "gan.classifier='': name the folder of a finished"),
        ({"gan__classifier": "/nonexistent"}, "gan.classifier='/nonexistent': no config.json"),
        ({"model": "srcnn"}, "model: 'srcnn' outputs image, but task 'gan' trains models of"),
        ({"dataset__val_size": 100}, "dataset.val_size: task 'gan' validates on samples"),
        ({"loss__l2": 1e-4}, "loss.l2: task 'gan' trains without a weight penalty"),
        ({"early_stopping__enabled": True}, "early_stopping.enabled: task 'gan' trains a fixed"),
        ({"dataset__normalize": "standardize"}, "dataset.normalize='standardize': task 'gan'"),
        ({"model_args__dcgan__image_size": 28}, "model_args.dcgan.image_size=28: digits's"),
        ({"dataset__classes": (0, 1, 2)}, "it classifies images \\[8, 8, 1\\] into 10 classes"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(tmp_path, gan_quick, overrides, message):
    config = gan_quick(**overrides)
    with pytest.raises(ConfigError, match=message) as e:
        validate(config)
        loop.run(config, str(tmp_path))  # the data checks: before any compile
    assert "\n" not in str(e.value)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.slow
def test_each_replica_equals_a_separate_run_with_its_seed(tmp_path, gan_quick):
    from test_loop import read_events  # the TFRecord reader of the loop's tests

    config = lambda **kw: gan_quick("stackgan", epochs=2, **kw)
    task = tasks.get("gan")
    summary = loop.run(config(seed=3, num_seeds=3), str(tmp_path / "seeds"))
    figures = [f"test_{f}" for f in task.figures] + ["best_val_inception_score"]
    figures += [f"final_train_{f}" for f in task.train_figures]
    for replica in summary["per_seed"]:
        separate = loop.run(config(seed=replica["seed"]), str(tmp_path / f"s{replica['seed']}"))
        for key in figures:  # adversarial training amplifies rounding: in epoch 2 one of
            # the three replicas (unrolled in one program on the CPU) drifts from its separate
            # run by about 3e-3 relative, the others stay bit-identical (jax 0.10.2)
            np.testing.assert_allclose(replica[key], separate[key], rtol=1e-2, err_msg=key)
    values = [r["test_inception_score"] for r in summary["per_seed"]]
    assert len({round(v, 6) for v in values}) == 3  # the seeds differ
    folders = sorted(glob.glob(str(tmp_path / "seeds" / "seed_*" / "tensorboard")))
    assert len(folders) == 3
    for folder in folders:
        tags = collections.Counter(tag for tag, _, _ in read_events(folder))
        assert all(tags[f"val_{f}"] == 2 for f in task.figures), tags
        assert all(tags[f"train_{f}"] == 2 for f in task.train_figures), tags
