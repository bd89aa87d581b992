"""airbench's recipe as cnnjax parts, each against an independent NumPy loop of airbench94's
own arithmetic: PyTorch-SGD parameter groups (lr scaler, decay, frozen and stopped
parameters), the triangular schedule, lookahead, alternating flips, reflect-padded shifts and
the six-view test-time augmentation; then a short run of the loop with all of them on."""

import math
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import augment, optim, tasks
from cnnjax.config import ConfigError, base_config, validate
from cnnjax.layers.whitening import whitening_kernel
from cnnjax.train import loop, steps, trained
from cnnjax.train.results import log_epoch
from cnnjax.train.signals import RunInterrupted


def _sgd_config(**optimizer):
    c = base_config()
    c.epochs = 2
    c.schedule.name = "constant"
    c.optimizer.update(name="nesterov", momentum=0.85, learning_rate=0.3, **optimizer)
    return c


def test_parameter_groups_step_as_pytorch_sgd_groups():
    """airbench's SGD: group g has lr_g = lr x scale_g and weight_decay wd / lr_g (PyTorch's
    coupled decay): buf = m buf + (grad + wd_g p); p -= lr_g (grad + wd_g p + m buf)."""
    lr, d, m, scale = 0.3, 0.01, 0.85, 64.0
    c = _sgd_config(
        sgd_weight_decay=d,
        lr_scales=(("*norm*/bias", scale),),
        stop_after_epochs=(("whiten/kernel", 0), ("whiten/bias", 1)),
    )
    params = {
        "whiten": {"kernel": jnp.ones((2,)), "bias": jnp.ones((2,))},
        "block1": {"norm1": {"bias": jnp.full((3,), 0.5)}, "conv1": {"kernel": jnp.ones((3,))}},
    }
    tx = optim.make_optimizer(c, steps_per_epoch=2)
    state = tx.init(params)
    rng = np.random.default_rng(0)
    ref = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    buf = jax.tree.map(np.zeros_like, ref)
    for t in range(4):
        grads = jax.tree.map(lambda a: rng.standard_normal(a.shape), ref)
        updates, state = tx.update(jax.tree.map(jnp.asarray, grads), state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        paths = [("whiten", "bias"), ("block1", "norm1", "bias"), ("block1", "conv1", "kernel")]
        for path in paths:
            group_lr = lr * (scale if path[-2] == "norm1" else 1.0)
            if path == ("whiten", "bias") and t >= 2:  # stopped after epoch 1 (2 steps)
                continue
            node_p, node_b, node_g = ref, buf, grads
            for k in path[:-1]:
                node_p, node_b, node_g = node_p[k], node_b[k], node_g[k]
            k = path[-1]
            g = node_g[k] + (d * lr / group_lr) * node_p[k]  # weight_decay_g = d lr / lr_g
            node_b[k] = m * node_b[k] + g
            node_p[k] = node_p[k] - group_lr * (g + m * node_b[k])
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(ref)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(params["whiten"]["kernel"], np.ones(2))  # never updated


def test_parameter_paths_and_first_matching_rule():
    rules = (("*/norm*/bias", 2.0), ("*", 3.0))
    scaled, _ = optim.scale_by_parameter(rules).update(
        {"b": {"norm1": {"bias": jnp.ones(1)}, "conv": {"kernel": jnp.ones(1)}}}, None
    )
    assert float(scaled["b"]["norm1"]["bias"][0]) == 2.0
    assert float(scaled["b"]["conv"]["kernel"][0]) == 3.0


def test_triangular_schedule_is_airbench_get_lr():
    c = base_config()
    c.epochs, c.optimizer.learning_rate = 10, 2.0
    c.schedule.update(name="triangular", div_factor=5.0, pct_start=0.23, final_lr_fraction=0.07)
    schedule = optim.make_schedule(c, steps_per_epoch=48)
    total = 480
    warmup = int(total * 0.23)

    def get_lr(step):  # airbench94.py's, times the peak
        if step < warmup:
            frac = step / warmup
            return 2.0 * (0.2 * (1 - frac) + 1.0 * frac)
        frac = (step - warmup) / (total - warmup)
        return 2.0 * (1.0 * (1 - frac) + 0.07 * frac)

    got = [float(schedule(s)) for s in range(total)]
    np.testing.assert_allclose(got, [get_lr(s) for s in range(total)], rtol=1e-5)


def test_lookahead_is_airbench_lookahead_state():
    """airbench: after step t, if t % 5 == 0: ema.lerp_(w, 1 - a(t)), w = ema, with
    a(t) = 0.95^5 (t / T)^3; after the last step (a = 1): w = ema."""
    total, every = 12, 5
    la = steps.Lookahead(every, 0.95**5, 3.0, total)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(3)
    slow_ref, slow = w.copy(), jnp.asarray(w)
    for t in range(1, total + 1):
        w = w + rng.standard_normal(3)  # a step
        fast = jnp.asarray(w)
        slow, fast = la(slow, fast, jnp.int32(t))
        if t % every == 0:
            a = 0.95**5 * (t / total) ** 3
            slow_ref = a * slow_ref + (1 - a) * w
            w = slow_ref.copy()
        if t >= total:
            w = slow_ref.copy()
        np.testing.assert_allclose(slow, slow_ref, rtol=1e-6)
        np.testing.assert_allclose(fast, w, rtol=1e-6)
        w = np.asarray(fast, np.float64)


def test_alternating_flips_mirror_every_image_every_other_epoch():
    images = jnp.arange(6 * 2 * 3, dtype=jnp.float32).reshape(6, 2, 3, 1)
    ids = jnp.arange(6)
    key = jax.random.PRNGKey(3)
    epochs = [augment.alternating_flip(key, images, ids, jnp.int32(e)) for e in range(4)]
    mirrored = [
        np.all(np.asarray(x) == np.asarray(images[:, :, ::-1]), axis=(1, 2, 3)) for x in epochs
    ]
    for e in range(3):
        assert np.all(mirrored[e] != mirrored[e + 1])  # each image alternates
    assert 0 < mirrored[0].sum() < 6  # a coin per image
    # an image's coin is its own, wherever it falls in a batch
    again = augment.alternating_flip(key, images[::-1], ids[::-1], jnp.int32(0))
    np.testing.assert_array_equal(again, epochs[0][::-1])


def test_reflect_padded_shifts_stay_inside_the_image():
    image = jnp.arange(5 * 5, dtype=jnp.float32).reshape(1, 5, 5, 1)
    reflected = np.pad(np.asarray(image[0, :, :, 0]), 2, mode="reflect")
    aug = augment.Augment(crop_padding=2, crop_pad_mode="reflect")
    windows = {reflected[i : i + 5, j : j + 5].tobytes() for i in range(5) for j in range(5)}
    for seed in range(8):
        out = np.asarray(aug(jax.random.PRNGKey(seed), image))[0, :, :, 0]
        assert out.tobytes() in windows
    with pytest.raises(ValueError, match="unknown crop_pad_mode 'edge'"):
        augment.Augment(crop_padding=2, crop_pad_mode="edge")


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            {"dataset__augment__alternate_flip": True, "dataset__augment__horizontal_flip": True},
            "alternate_flip and dataset.augment.horizontal_flip both mirror",
        ),
        (
            {"dataset__augment__alternate_flip": True, "dataset__pipeline": "stream"},
            "alternate_flip needs each image's index",
        ),
        ({"eval_translate_average": True}, "set eval_flip_average=True too"),
        (
            {"optimizer__sgd_weight_decay": 0.1, "optimizer__name": "adam"},
            "sgd_weight_decay is for sgd, momentum, nesterov, not 'adam'",
        ),
        ({"optimizer__lr_scales": (("a", "x"),)}, "lr_scales must be a tuple of"),
        ({"optimizer__stop_after_epochs": ("whiten",)}, "stop_after_epochs must be a tuple"),
        ({"lookahead__every": -1}, "lookahead.every must be an integer >= 0"),
        ({"dataset__augment__crop_pad_mode": "edge"}, "crop_pad_mode must be one of zeros"),
    ],
)
def test_the_config_names_the_field(make_config, overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(make_config(**overrides))


def _recipe_config(make_config, **overrides):
    """The speedrun's recipe on digits: airbench_net with two groups (8x8 -> 7 -> 3 -> 1)."""
    fields = dict(
        model="airbench_net",
        model_args__airbench_net__widths=(8, 16),
        model_args__airbench_net__whiten_images=200,
        epochs=3,
        batch_size=64,
        optimizer__name="nesterov",
        optimizer__momentum=0.85,
        optimizer__learning_rate=0.2,
        optimizer__sgd_weight_decay=1e-3,
        optimizer__lr_scales=(("*/norm*/bias", 8.0),),
        optimizer__stop_after_epochs=(("whiten/kernel", 0), ("whiten/bias", 1)),
        schedule__name="triangular",
        loss__label_smoothing=0.2,
        lookahead__every=5,
        dataset__augment__alternate_flip=True,
        dataset__augment__crop_padding=1,
        dataset__augment__crop_pad_mode="reflect",
        eval_flip_average=True,
        eval_translate_average=True,
    )
    return make_config(**{**fields, **overrides})


def test_the_recipe_trains_in_the_loop_and_resumes_exactly(tmp_path, make_config, monkeypatch):
    config = _recipe_config(make_config)
    full = loop.run(config, str(tmp_path / "full"), progress=False)
    assert full["test_accuracy"] > 0.3  # chance: 0.1 (mirrored digits, 60 steps)
    assert math.isfinite(full["test_loss_flip"]) and full["test_loss_flip"] != full["test_loss"]
    # the whitening kernel is the first 200 training images' (normalised), never moved
    run = trained.load_trained(str(tmp_path / "full"))
    first = tasks.of(config).splits(config).train.images[:200]
    want = whitening_kernel(run.normalizer(first), (2, 2), 5e-4)
    np.testing.assert_allclose(run.variables["params"]["whiten"]["kernel"], want, rtol=1e-6)

    # a SIGTERM after epoch 1 stops the run at its checkpoint; resumed, the same numbers
    def log_then_stop(ctx, loop_record):
        log_epoch(ctx, loop_record)
        if loop_record["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(loop, "log_epoch", log_then_stop)
    with pytest.raises(RunInterrupted):
        loop.run(config, str(tmp_path / "part"), progress=False)
    monkeypatch.undo()
    resumed = loop.run(config, str(tmp_path / "part"), progress=False)
    assert resumed["test_loss"] == full["test_loss"]
    assert resumed["test_loss_flip"] == full["test_loss_flip"]


@pytest.mark.parametrize("num_seeds", [1, 3])
def test_scanned_steps_give_the_per_step_numbers(tmp_path, make_config, num_seeds):
    """scan_steps runs each host sync's steps as one compiled loop (the whole epoch with
    steps_per_sync = its steps; 21 steps an epoch here, so the 5-step chunks end in a 1-step
    one): the same numbers as a call per step (bit for bit for this MLP; within float32
    rounding for the tasks' models, tests/train/test_tasks.py)."""
    runs = {}
    for scan in (False, True):
        config = make_config(scan_steps=scan, steps_per_sync=5, num_seeds=num_seeds)
        runs[scan] = loop.run(config, str(tmp_path / str(scan)), progress=False)
    for key in ("test_loss", "test_accuracy", "final_train_loss"):
        assert runs[True][key] == runs[False][key], key


def test_scanned_steps_need_the_data_in_memory(make_config):
    with pytest.raises(ConfigError, match="scan_steps loops over steps on the device"):
        validate(make_config(scan_steps=True, dataset__pipeline="stream"))
