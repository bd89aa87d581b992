"""The pure steps: learning, masking, dropout keys, plateau scale; compiled evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import losses, models, optim, pipeline
from cnnjax.config import base_config
from cnnjax.data import Split
from cnnjax.tasks.classification import classification_fns, classification_sums, cross_entropy_loss
from cnnjax.train import Penalty, create_train_state, epoch, eval_step, train_step


def make_state(dropout_rate=0.0, lr=0.1):
    c = base_config()
    c.optimizer.learning_rate = lr
    c.schedule.name = "constant"
    model = models.create("mlp", 3, hidden_sizes=(8,), dropout_rate=dropout_rate)
    return create_train_state(
        model,
        optim.make_optimizer(c, 10),
        optim.make_plateau(c),
        jax.random.PRNGKey(0),
        (1, 2, 2, 1),
    )


X = jax.random.normal(jax.random.PRNGKey(1), (12, 2, 2, 1))
Y = jnp.arange(12) % 3
CE = cross_entropy_loss()
_step = jax.jit(train_step, static_argnums=(3, 4, 5))


def step(state, x, y, penalty=Penalty(), dtype=jnp.float32):
    """A classification step: cross-entropy against labels y."""
    return _step(state, x, {"labels": y}, CE, penalty, dtype)


def evaluate(state, x, y, mask, dtype=jnp.float32, flip_average=False, translate_average=False):
    return eval_step(state, x, y, mask, classification_sums, dtype, flip_average, translate_average)


def test_train_step_learns_and_reports_sums():
    state = make_state()
    first = None
    for _ in range(30):
        state, m = step(state, X, Y)
        first = m["loss_sum"] if first is None else first
    assert m["loss_sum"] < 0.5 * first
    assert m["count"] == 12 and 0 <= m["correct"] <= 12 and bool(m["finite"])
    assert int(state.step) == 30


def test_penalty_is_reported_separately_and_added_to_the_objective():
    state = make_state()
    _, m = step(state, X, Y, Penalty(l2=0.5))
    expected = losses.weight_penalty(state.params, l2=0.5)
    assert float(m["penalty"]) == pytest.approx(float(expected))
    logits = state.apply_fn(state.variables(), X, train=False)
    assert float(m["loss_sum"]) == pytest.approx(
        float(losses.cross_entropy(logits, Y).sum()), rel=1e-6
    )


def test_zero_plateau_scale_freezes_parameters():
    state = make_state()
    state = state.replace(plateau=state.plateau._replace(scale=jnp.zeros_like(state.plateau.scale)))
    new, _ = step(state, X, Y)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params)):
        np.testing.assert_array_equal(a, b)


def test_dropout_masks_change_with_the_step_and_repeat_for_the_same_step():
    state = make_state(dropout_rate=0.5)
    a, _ = step(state, X, Y)
    b, _ = step(state, X, Y)
    c, _ = step(state.replace(step=state.step + 1), X, Y)
    leaf = lambda s: jax.tree.leaves(s.params)[0]
    np.testing.assert_array_equal(leaf(a), leaf(b))
    assert not np.array_equal(leaf(a), leaf(c))


def test_non_finite_loss_is_flagged():
    _, m = step(make_state(), X.at[0].set(jnp.nan), Y)
    assert not bool(m["finite"])


def test_masked_evaluation_counts_every_example_once():
    state = make_state()
    images = np.asarray(jax.random.randint(jax.random.PRNGKey(2), (10, 2, 2, 1), 0, 256), np.uint8)
    labels = np.arange(10, dtype=np.int32) % 3
    norm = pipeline.Normalizer.fit(images, "standardize")
    batches = pipeline.padded_batches(Split(images, labels), 4)  # 4 + 4 + 2 (+ 2 padding)
    out = epoch.make_evaluate(classification_fns(norm))(state, *batches)
    full = evaluate(state, norm(jnp.asarray(images)), jnp.asarray(labels), jnp.ones(10))
    assert float(out["count"]) == 10
    assert float(out["loss"]) == pytest.approx(float(full["loss_sum"]) / 10, rel=1e-6)
    assert float(out["accuracy"]) == pytest.approx(float(full["correct"]) / 10)
    confusion = np.asarray(out["confusion"])  # padding excluded, as from one full batch
    np.testing.assert_array_equal(confusion, np.asarray(full["confusion"]))
    assert confusion.sum() == 10 and np.trace(confusion) == float(full["correct"])
    np.testing.assert_array_equal(confusion.sum(1), np.bincount(labels, minlength=len(confusion)))


def test_bfloat16_compute_keeps_float32_params_and_state():
    """Mixed precision: a bfloat16 forward/backward on a batch-norm CNN updates float32 params,
    optimizer state and running statistics, close to (but not bit-equal to) the fp32 step."""
    c = base_config()
    c.schedule.name = "constant"
    model = models.create("small_cnn", 3, widths=(4,), convs_per_stage=1, hidden=8)
    state = create_train_state(
        model, optim.make_optimizer(c, 10), optim.make_plateau(c), jax.random.PRNGKey(0),
        (1, 4, 4, 1),
    )  # fmt: skip
    x = jax.random.normal(jax.random.PRNGKey(1), (12, 4, 4, 1))
    new16, m16 = step(state, x, Y, Penalty(), jnp.bfloat16)
    new32, m32 = step(state, x, Y, Penalty(), jnp.float32)
    for tree in (new16.params, new16.opt_state, new16.batch_stats):
        assert all(leaf.dtype in (jnp.float32, jnp.int32) for leaf in jax.tree.leaves(tree))
    assert bool(m16["finite"])
    assert m16["loss_sum"] != m32["loss_sum"]  # the forward pass really ran in bfloat16
    np.testing.assert_allclose(m16["loss_sum"], m32["loss_sum"], rtol=2e-2)
    for a, b in zip(jax.tree.leaves(new16.params), jax.tree.leaves(new32.params)):
        np.testing.assert_allclose(a, b, atol=2e-2)
    e16 = evaluate(new16, x, Y, jnp.ones(12), jnp.bfloat16)
    assert e16["loss_sum"].dtype == jnp.float32 and np.isfinite(e16["loss_sum"])


@pytest.mark.parametrize("mode", ["vmap", "unroll"])
def test_replica_maps_agree_with_a_loop_over_replicas(monkeypatch, mode):
    monkeypatch.setitem(epoch.REPLICA_MAP, jax.default_backend(), mode)
    fn = lambda w, x, shared: {"y": jnp.tanh(x @ w) + shared, "s": jnp.sum(w)}
    w = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 2))
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 4))
    out = jax.jit(epoch.map_replicas(fn, (0, 0, None), 3))(w, x, 1.0)
    for r in range(3):
        expected = fn(w[r], x[r], 1.0)
        np.testing.assert_allclose(out["y"][r], expected["y"], rtol=1e-6)
        np.testing.assert_allclose(out["s"][r], expected["s"], rtol=1e-6)


def test_per_pixel_labels_average_over_pixels_and_mask_whole_images():
    """A per-pixel model: the loss is the mean over pixels, `count` counts pixels, and the
    evaluation mask (one entry per image) removes every pixel of a padded image."""
    c = base_config()
    c.schedule.name = "constant"
    model = models.create("fcn", 3, widths=(2,), convs_per_stage=1)
    state = create_train_state(
        model,
        optim.make_optimizer(c, 10),
        optim.make_plateau(c),
        jax.random.PRNGKey(0),
        (1, 4, 4, 1),
    )
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 4, 1))
    y = jax.random.randint(jax.random.PRNGKey(2), (3, 4, 4), 0, 3)
    _, m = step(state, x, y)
    logits = state.apply_fn(state.variables(), x, train=True, mutable=["batch_stats"])[0]
    per_pixel = losses.cross_entropy(logits, y)
    assert per_pixel.shape == (3, 4, 4) and float(m["count"]) == 48
    assert float(m["loss_sum"]) == pytest.approx(float(per_pixel.sum()), rel=1e-5)
    masked = evaluate(state, x, y, jnp.array([1.0, 1.0, 0.0]))
    full = evaluate(state, x[:2], y[:2], jnp.ones(2))
    assert float(masked["count"]) == 32
    assert float(masked["loss_sum"]) == pytest.approx(float(full["loss_sum"]), rel=1e-5)
    assert float(masked["correct"]) == float(full["correct"])


def test_flip_average_evaluates_each_image_and_its_mirror():
    """Test-time flips: the logits are (f(x) + f(x mirrored along the width)) / 2; a mirror-
    symmetric image gets its plain logits back."""
    state = make_state()
    ones = jnp.ones(12)
    apply = lambda x: state.apply_fn(state.variables(), x, train=False)
    logits = (apply(X) + apply(X[:, :, ::-1])) / 2
    flipped = evaluate(state, X, Y, ones, flip_average=True)
    expected = losses.cross_entropy(logits, Y).sum()
    assert float(flipped["loss_sum"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(flipped["correct"]) == float(jnp.sum(jnp.argmax(logits, -1) == Y))
    symmetric = (X + X[:, :, ::-1]) / 2
    plain = evaluate(state, symmetric, Y, ones)
    assert float(evaluate(state, symmetric, Y, ones, flip_average=True)["loss_sum"]) == (
        pytest.approx(float(plain["loss_sum"]), rel=1e-6)
    )
    with pytest.raises(ValueError, match="NHWC"):
        evaluate(state, X.reshape(12, 4), Y, ones, flip_average=True)


def test_translate_average_is_the_six_views_of_airbench():
    """airbench94's level-2 test-time augmentation: the mirrored pair of the image (weight 1/2)
    and of its one-pixel shifts up-left and down-right, reflect-padded (1/4 each)."""
    state = make_state()
    got = evaluate(state, X, Y, jnp.ones(12), flip_average=True, translate_average=True)
    f = lambda v: state.apply_fn(state.variables(), v, train=False)
    mirror = lambda v: (f(v) + f(v[:, :, ::-1])) / 2
    p = jnp.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    logits = 0.5 * mirror(X) + 0.25 * mirror(p[:, 0:2, 0:2]) + 0.25 * mirror(p[:, 2:4, 2:4])
    want = classification_sums(logits, Y, jnp.ones(12))
    np.testing.assert_allclose(got["loss_sum"], want["loss_sum"], rtol=1e-5)
    assert float(got["correct"]) == float(want["correct"])
