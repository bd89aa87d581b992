"""Mixup and CutMix against their definitions: the blend, the box's share of pixels, the loss
against the blended one-hot target, and the switches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import mixing, optim
from cnnjax.config import ConfigError, base_config, validate
from cnnjax.tasks.classification import cross_entropy_loss
from cnnjax.train import create_train_state, train_step

B, H, W = 6, 8, 10
IMAGES = jnp.asarray(np.random.default_rng(0).normal(size=(B, H, W, 2)), jnp.float32)
LABELS = jnp.arange(B, dtype=jnp.int32) % 4


def test_mixup_blends_each_image_with_its_mirror_partner():
    mixed, labels_b, lam = mixing.Mixing(mixup_alpha=0.4)(jax.random.PRNGKey(1), IMAGES, LABELS)
    lam = float(lam)
    assert 0 < lam < 1
    np.testing.assert_allclose(mixed, lam * IMAGES + (1 - lam) * IMAGES[::-1], atol=1e-6)
    np.testing.assert_array_equal(labels_b, LABELS[::-1])


def test_cutmix_lam_is_the_share_of_pixels_kept():
    # images whose pixels tell their source apart: image i is all i + 1
    images = jnp.broadcast_to(jnp.arange(1.0, B + 1)[:, None, None, None], (B, H, W, 1))
    for seed in range(5):
        mixed, _, lam = mixing.Mixing(cutmix_alpha=1.0)(jax.random.PRNGKey(seed), images, LABELS)
        mixed = np.asarray(mixed)
        for i in range(B):
            own = np.mean(mixed[i] == i + 1)
            pasted = np.mean(mixed[i] == B - i)  # from the mirrored partner
            if i != B - 1 - i:
                assert own + pasted == 1.0
            assert own == pytest.approx(float(lam)) or i == B - 1 - i
        box = mixed[0, :, :, 0] == B  # one rectangle
        rows, cols = np.flatnonzero(box.any(1)), np.flatnonzero(box.any(0))
        if box.any():
            assert box[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()


def test_the_loss_is_cross_entropy_against_the_blended_target():
    import flax.linen as nn

    class Linear(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(4)(x)

    model = Linear()
    config = base_config()
    state = create_train_state(
        model, optax.sgd(0.1), optim.make_plateau(config), jax.random.PRNGKey(0), (1, H * W * 2)
    )
    x = IMAGES.reshape(B, -1)
    labels_b, lam = LABELS[::-1], jnp.float32(0.3)
    for smoothing in (0.0, 0.1):
        targets = {"labels": LABELS, "labels_b": labels_b, "lam": lam}
        _, metrics = train_step(state, x, targets, cross_entropy_loss(smoothing))
        logits = model.apply({"params": state.params}, x)
        smooth = lambda y: optax.smooth_labels(jax.nn.one_hot(y, 4), smoothing)
        target = lam * smooth(LABELS) + (1 - lam) * smooth(labels_b)
        np.testing.assert_allclose(target.sum(-1), 1.0, rtol=1e-6)  # the label sums
        expected = optax.softmax_cross_entropy(logits, target).sum()
        assert float(metrics["loss_sum"]) == pytest.approx(float(expected), rel=1e-5)
        predicted = jnp.argmax(logits, -1)
        hits = lam * (predicted == LABELS) + (1 - lam) * (predicted == labels_b)
        assert float(metrics["correct"]) == pytest.approx(float(hits.sum()))


def test_switches_prob_and_determinism():
    key = jax.random.PRNGKey(4)
    off = mixing.Mixing(mixup_alpha=0.4, prob=0.0)
    assert not off.enabled and not mixing.Mixing().enabled
    mixed, _, lam = mixing.Mixing(mixup_alpha=0.4, prob=0.0 + 1e-9)(
        jax.random.PRNGKey(0), IMAGES, LABELS
    )
    assert float(lam) == 1.0 and np.array_equal(mixed, IMAGES)  # this step does not mix
    both = mixing.Mixing(mixup_alpha=0.4, cutmix_alpha=1.0, switch_prob=1.0)
    mixed, _, _ = both(key, IMAGES, LABELS)  # always CutMix: every pixel from one source
    from_one = (mixed == IMAGES) | (mixed == IMAGES[::-1])
    assert bool(from_one.all())
    again, _, _ = both(key, IMAGES, LABELS)
    np.testing.assert_array_equal(mixed, again)


def test_the_config_names_a_bad_mixing_field(make_config):
    config = make_config()
    config.mixing.switch_prob = 1.5
    with pytest.raises(ConfigError, match=r"mixing.switch_prob must be a number in \[0, 1\]"):
        validate(config)


def test_a_run_with_mixup_and_cutmix_trains(tmp_path, make_config):
    from cnnjax.train import loop

    config = make_config(epochs=3, mixing__mixup_alpha=0.2, mixing__cutmix_alpha=1.0)
    summary = loop.run(config, str(tmp_path))
    assert summary["final_train_loss"] > 0 and summary["test_accuracy"] > 0.8
    assert summary["final_train_accuracy"] * 1337 % 1 != 0  # lam-weighted hits, not a count
