"""The weights' moving average: a hand computation of its update, the evaluation on it, and an
exact resume of a run that keeps one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models, optim
from cnnjax.config import ConfigError, base_config, validate
from cnnjax.tasks.classification import cross_entropy_loss
from cnnjax.train import create_train_state, loop, train_step, trained


def test_each_step_moves_the_average_toward_the_new_weights():
    c = base_config()
    c.schedule.name = "constant"
    model = models.create("small_cnn", 3, widths=(4,), hidden=8)  # batch norm: stats averaged
    state = create_train_state(
        model,
        optim.make_optimizer(c, 10),
        optim.make_plateau(c),
        jax.random.PRNGKey(0),
        (1, 8, 8, 1),
        ema=True,
    )
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 8, 8, 1))
    y = jnp.arange(6, dtype=jnp.int32) % 3
    average = jax.tree.map(np.asarray, state.ema)  # starts at the initial weights
    np.testing.assert_array_equal(
        jax.tree.leaves(average["params"])[0], jax.tree.leaves(state.params)[0]
    )
    d = 0.9
    for _ in range(2):
        state, _ = train_step(state, x, {"labels": y}, cross_entropy_loss(), ema_decay=d)
        weights = {"params": state.params, "batch_stats": state.batch_stats}
        average = jax.tree.map(lambda e, w: d * e + (1 - d) * np.asarray(w), average, weights)
        for got, want in zip(jax.tree.leaves(state.ema), jax.tree.leaves(average)):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    evaluated = state.for_evaluation()
    assert evaluated.ema is None
    for got, want in zip(jax.tree.leaves(evaluated.variables()), jax.tree.leaves(state.ema)):
        np.testing.assert_array_equal(got, want)


def test_a_run_evaluates_its_average(tmp_path, make_config):
    # (its resume after SIGKILL is tests/experiments/test_cli.py's three-seed case)
    full = loop.run(make_config(epochs=3, ema__decay=0.8), str(tmp_path / "full"))
    assert full["ema_decay"] == 0.8 and full["test_loss"] != full["test_loss_no_ema"]
    again = loop.run(make_config(epochs=3, ema__decay=0.8), str(tmp_path / "full"))
    assert again["test_loss"] == full["test_loss"]  # its checkpoint restores the average
    # the run's model, read back, is the average: its test loss is the summary's
    run = trained.load_trained(str(tmp_path / "full"))
    logits = run.model.apply(run.variables, run.normalizer(run.test_images), train=False)
    loss = jnp.mean(-jax.nn.log_softmax(logits)[np.arange(len(run.test_labels)), run.test_labels])
    assert float(loss) == pytest.approx(full["test_loss"], rel=1e-5)


def test_the_config_names_a_bad_decay(make_config):
    with pytest.raises(ConfigError, match=r"ema.decay must be a number in \[0, 1\)"):
        validate(make_config(ema__decay=1.0))
