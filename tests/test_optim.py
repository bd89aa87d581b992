"""Every optimizer and schedule name, and the schedules' values at known steps."""

import jax
import jax.numpy as jnp
import optax
import pytest

from cnnjax import optim
from cnnjax.config import base_config


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_descends_a_quadratic(name):
    c = base_config()
    c.optimizer.name = name
    c.optimizer.learning_rate = 0.1
    c.optimizer.grad_clip_norm = 10.0
    c.schedule.name = "constant"
    tx = optim.make_optimizer(c, steps_per_epoch=10)
    params = {"w": jnp.array([3.0, -2.0])}
    state = tx.init(params)
    loss = lambda p: jnp.sum(p["w"] ** 2)
    for _ in range(5):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert loss(params) < 13.0


def schedule(name, **fields):
    c = base_config()
    c.epochs = 10
    c.optimizer.learning_rate = 1.0
    c.schedule.name = name
    for k, v in fields.items():
        c.schedule[k] = v
    return optim.make_schedule(c, steps_per_epoch=10)  # 100 steps in all


def test_constant():
    assert schedule("constant")(0) == schedule("constant")(99) == 1.0


def test_step():
    s = schedule("step", boundaries_epochs=(5, 8), decay_factor=0.1)
    assert [float(s(t)) for t in (0, 49, 50, 79, 80)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_cosine():
    s = schedule("cosine", final_lr_fraction=0.1)
    assert float(s(0)) == pytest.approx(1.0)
    assert float(s(50)) == pytest.approx(0.1 + 0.9 * 0.5)
    assert float(s(100)) == pytest.approx(0.1)


def test_warmup_cosine():
    s = schedule("warmup_cosine", warmup_epochs=2.0, final_lr_fraction=0.0)
    assert [float(s(t)) for t in (0, 10, 20)] == pytest.approx([0.0, 0.5, 1.0])
    assert float(s(100)) == pytest.approx(0.0, abs=1e-6)


def test_onecycle():
    s = schedule("onecycle", pct_start=0.3, div_factor=10.0, final_div_factor=100.0)
    assert float(s(0)) == pytest.approx(0.1)
    assert float(s(30)) == pytest.approx(1.0)
    assert float(s(100)) == pytest.approx(0.1 / 100, rel=1e-3)


def test_unknown_names():
    c = base_config()
    c.schedule.name = "linear"
    with pytest.raises(ValueError, match="valid schedule names: constant, step"):
        optim.make_schedule(c, 10)
    c.schedule.name = "constant"
    c.optimizer.name = "lion"
    with pytest.raises(ValueError, match="valid optimizer names: sgd, momentum"):
        optim.make_optimizer(c, 10)


def test_reduce_on_plateau_scales_after_patience():
    c = base_config()
    c.plateau.factor = 0.5
    c.plateau.patience = 2
    plateau = optim.make_plateau(c)
    state = plateau.init({"w": jnp.zeros(1)})
    scales = []
    for value in (1.0, 0.5, 0.5, 0.5, 0.5, 0.5):  # improves, then plateaus
        _, state = plateau.update(jnp.zeros(()), state, value=value)
        scales.append(float(state.scale))
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
