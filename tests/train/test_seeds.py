"""Multi-seed training: K replicas in one vmapped step give the numbers of K separate runs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.config import ConfigError
from cnnjax.train import data_setup, errors, loop

# Per-seed figures compared with separate runs (vmapped and unbatched convolutions and matmuls
# may sum in a different order: fp32 rounding only).
FIGURES = ("test_accuracy", "test_loss", "final_train_loss", "best_val_accuracy")


def _assert_same(replica, separate):
    for key in FIGURES:
        np.testing.assert_allclose(replica[key], separate[key], rtol=2e-4, atol=1e-6, err_msg=key)
    for key in ("epochs_run", "best_epoch", "stopped_early"):
        assert replica[key] == separate[key], key


@pytest.mark.slow
def test_each_replica_equals_a_separate_run_with_its_seed(tmp_path, make_config):
    config = lambda **kw: make_config(
        epochs=3, dataset__augment__horizontal_flip=True, model_args__mlp__dropout_rate=0.2, **kw
    )
    summary = loop.run(config(seed=5, num_seeds=3), str(tmp_path / "seeds"))
    assert summary["seeds"] == [5, 6, 7] and len(summary["per_seed"]) == 3
    for replica in summary["per_seed"]:
        separate = loop.run(config(seed=replica["seed"]), str(tmp_path / f"s{replica['seed']}"))
        _assert_same(replica, separate)
        lines = (tmp_path / "seeds" / f"seed_{replica['seed']}" / "metrics.jsonl").read_text()
        assert len(lines.splitlines()) == 3
        assert (tmp_path / "seeds" / f"seed_{replica['seed']}" / "curves.png").exists()
    accuracies = [r["test_accuracy"] for r in summary["per_seed"]]
    assert summary["test_accuracy"] == pytest.approx(np.mean(accuracies))
    assert summary["test_accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
    saved = json.loads((tmp_path / "seeds" / "summary.json").read_text())
    assert saved["test_accuracy"] == summary["test_accuracy"] and saved["num_seeds"] == 3
    f1 = np.array([r["per_class"]["f1"] for r in summary["per_seed"]])
    np.testing.assert_allclose(saved["per_class"]["f1"], f1.mean(0))
    np.testing.assert_allclose(saved["per_class"]["f1_std"], f1.std(0, ddof=1))
    # The finished run resumes to the same summary (compile time aside).
    again = loop.run(config(seed=5, num_seeds=3), str(tmp_path / "seeds"))
    timing = {"compile_seconds": 0, "test_seconds": 0}
    assert {**again, **timing} == {**saved, **timing}


@pytest.mark.slow
def test_replicas_stop_early_on_their_own(tmp_path, make_config):
    """Early stopping and plateau are per replica: a replica that stops is frozen while the
    others go on, and each matches its separate run."""
    config = lambda **kw: make_config(
        epochs=6, optimizer__learning_rate=0.02, schedule__name="constant", **kw
    )

    def configure(c):
        c.early_stopping.update(enabled=True, metric="val_loss", patience=1, min_delta=0.01)
        c.plateau.update(enabled=True, patience=1, factor=0.5)
        return c

    summary = loop.run(configure(config(num_seeds=2)), str(tmp_path / "seeds"))
    assert [r["epochs_run"] for r in summary["per_seed"]] == [6, 5]  # seed 1 stops first
    for replica in summary["per_seed"]:
        seed = replica["seed"]
        _assert_same(replica, loop.run(configure(config(seed=seed)), str(tmp_path / f"s{seed}")))


def _kernel_square_sum(model_config, seed):
    """sum of w^2 over the kernels of the MLP that seed `seed` initialises (as the loop does)."""
    model = models.create("mlp", 10, **model_config.model_args.mlp.to_dict())
    init_key, _ = jax.random.split(jax.random.PRNGKey(seed))
    params = model.init(init_key, jnp.zeros((1, 8, 8, 1)), train=False)["params"]
    return sum(float(jnp.sum(layer["kernel"] ** 2)) for layer in params.values())


@pytest.mark.slow
def test_a_diverging_replica_is_frozen_and_recorded_and_the_others_finish(tmp_path, make_config):
    # An L2 weight so large that the initial penalty l2 * sum(w^2) / 2 overflows float32 for the
    # seed with the larger kernels only; clipping keeps the other seed's updates finite.
    squares = [_kernel_square_sum(make_config(), s) for s in (0, 1)]
    assert abs(squares[0] / squares[1] - 1) > 0.02  # far enough apart to split them
    l2 = 2 * float(np.finfo(np.float32).max) / np.sqrt(squares[0] * squares[1])
    bad = int(np.argmax(squares))
    config = lambda **kw: make_config(epochs=2, loss__l2=l2, optimizer__grad_clip_norm=1.0, **kw)
    summary = loop.run(config(seed=0, num_seeds=2), str(tmp_path / "seeds"))
    diverged, finished = summary["per_seed"][bad], summary["per_seed"][1 - bad]
    assert summary["diverged_seeds"] == [bad] and diverged["diverged_step"] == 0
    assert diverged["test_accuracy"] is None and diverged["epochs_run"] == 0
    assert finished.get("diverged_step") is None and finished["epochs_run"] == 2
    _assert_same(finished, loop.run(config(seed=1 - bad), str(tmp_path / "alone")))
    assert summary["test_accuracy"] == finished["test_accuracy"]
    assert summary["test_accuracy_std"] == 0.0
    with pytest.raises(errors.NonFiniteLossError, match="non-finite at step 0"):
        loop.run(config(seed=bad), str(tmp_path / "bad_alone"))  # one seed alone still stops


@pytest.mark.slow
def test_with_subset_per_seed_each_seed_trains_on_its_own_subset(tmp_path, make_config):
    config = lambda **kw: make_config(
        epochs=2, dataset__train_size=400, dataset__subset_per_seed=True, **kw
    )
    summary = loop.run(config(seed=3, num_seeds=2), str(tmp_path / "seeds"))
    assert summary["num_train"] == 400 and summary["subset_per_seed"] is True
    for replica in summary["per_seed"]:
        separate = loop.run(config(seed=replica["seed"]), str(tmp_path / f"s{replica['seed']}"))
        _assert_same(replica, separate)
    pool = data_setup.data_splits(config())[1]
    first, second = (data_setup.seed_subset(config(), pool, s) for s in (3, 4))
    assert len(first) == len(second) == 400 and not np.array_equal(first, second)
    fixed = data_setup.data_splits(make_config(dataset__train_size=400))[1]
    assert len(fixed) == 400 and len(pool) == 1437 - 100  # the subset of every seed, the pool
    with pytest.raises(ConfigError, match="subset_per_seed needs dataset.train_size"):
        loop.run(make_config(dataset__subset_per_seed=True), str(tmp_path / "none"))
