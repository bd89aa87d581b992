"""Every optimizer and schedule name, and the schedules' values at known steps."""

import jax
import jax.numpy as jnp
import numpy as np
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


# One known gradient twice: the parameters after each of two updates, by the formulas of
# optim._base_optimizer's docstring in NumPy (float64), for the config's hyper-parameters.
G1, G2, P0 = np.array([0.5, -2.0]), np.array([1.5, 0.25]), np.array([3.0, -1.0])
LR, MOM, B1, B2, EPS, WD, DECAY = 0.1, 0.9, 0.9, 0.999, 1e-8, 1e-2, 0.9


def _reference(name, rmsprop_momentum=0.0):
    """[p1, p2]: the parameters after each update."""
    p, out, v, s, m = P0.copy(), [], 0.0, 0.0, 0.0
    for t, g in enumerate((G1, G2), start=1):
        if name == "sgd":
            u = -LR * g
        elif name in ("momentum", "nesterov"):
            v = MOM * v + g
            u = -LR * (v if name == "momentum" else g + MOM * v)
        elif name == "adagrad":
            s = (0.1 if t == 1 else s) + g**2
            u = -LR * g / np.sqrt(s + EPS)
        elif name == "rmsprop":
            s = DECAY * s + (1 - DECAY) * g**2
            d = g / (np.sqrt(s) + EPS)
            v = rmsprop_momentum * v + LR * d
            u = -v
        else:  # adam, adamw
            m, s = B1 * m + (1 - B1) * g, B2 * s + (1 - B2) * g**2
            u = -LR * (m / (1 - B1**t)) / (np.sqrt(s / (1 - B2**t)) + EPS)
            if name == "adamw":
                u = u - LR * WD * p
        p = p + u
        out.append(p)
    return out


@pytest.mark.parametrize(
    "name,rmsprop_momentum",
    [(n, 0.0) for n in optim.OPTIMIZERS] + [("rmsprop", 0.5)],
)
def test_every_optimizer_makes_its_documented_updates(name, rmsprop_momentum):
    c = base_config()
    c.optimizer.update(
        name=name, learning_rate=LR, momentum=MOM, b1=B1, b2=B2, eps=EPS, weight_decay=WD,
        rmsprop_decay=DECAY, rmsprop_momentum=rmsprop_momentum,
    )
    c.schedule.name = "constant"
    tx = optim.make_optimizer(c, steps_per_epoch=10)
    params = jnp.asarray(P0, jnp.float32)
    state = tx.init(params)
    for g, expected in zip((G1, G2), _reference(name, rmsprop_momentum)):
        updates, state = tx.update(jnp.asarray(g, jnp.float32), state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(params, expected, rtol=2e-6, err_msg=name)


def test_rmsprop_has_no_momentum_unless_set():
    c = base_config()
    c.optimizer.name = "rmsprop"
    assert c.optimizer.rmsprop_momentum == 0.0 and c.optimizer.momentum == 0.9
    first, second = _reference("rmsprop", 0.0), _reference("rmsprop", 0.9)
    assert not np.allclose(first[1], second[1])  # the test above tells them apart


def test_accumulation_applies_the_mean_gradient_of_k_steps_once_every_k_steps():
    c = base_config()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1
    c.optimizer.accumulate_steps = 2
    c.schedule.name = "constant"
    tx = optim.make_optimizer(c, steps_per_epoch=10)
    params = {"w": jnp.array([1.0, -2.0])}
    state = tx.init(params)
    first, state = tx.update({"w": jnp.array([1.0, 3.0])}, state, params)
    np.testing.assert_array_equal(first["w"], [0.0, 0.0])  # no update between the k-th steps
    second, state = tx.update({"w": jnp.array([3.0, -1.0])}, state, params)
    np.testing.assert_allclose(second["w"], [-0.1 * 2.0, -0.1 * 1.0], rtol=1e-6)


def test_with_accumulation_the_schedule_counts_updates_not_steps():
    c = base_config()
    c.epochs, c.optimizer.learning_rate, c.schedule.name = 10, 1.0, "cosine"
    c.schedule.final_lr_fraction = 0.0
    c.optimizer.accumulate_steps = 4
    # 40 steps an epoch, 10 updates an epoch: the last update of the run has the last lr.
    assert optim.learning_rate_after(c, 40, 4) == pytest.approx(1.0)
    # After 200 steps, 50 updates: the 50th of 100 has lr (1 + cos(pi 49 / 100)) / 2.
    assert optim.learning_rate_after(c, 40, 200) == pytest.approx(
        (1 + np.cos(np.pi * 49 / 100)) / 2, rel=1e-6
    )
    assert optim.learning_rate_after(c, 40, 400) == pytest.approx(
        float(optim.make_schedule(c, 10)(99))
    )
    c.optimizer.accumulate_steps = 1
    assert optim.learning_rate_after(c, 40, 200) == pytest.approx(float(
        optim.make_schedule(c, 40)(199)
    ))
