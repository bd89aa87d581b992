"""Splits, normalisation statistics, epoch order, augmentation, evaluation padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import pipeline
from cnnjax.data import Split


def split(n=20, hw=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, hw, hw, c), dtype=np.uint8), np.arange(n, dtype=np.int32))


def test_holdout_is_deterministic_disjoint_and_complete():
    s = split()
    train, val = pipeline.holdout(s, 6, seed=3)
    again, val_again = pipeline.holdout(s, 6, seed=3)
    assert len(val) == 6 and len(train) == 14
    np.testing.assert_array_equal(val.labels, val_again.labels)
    np.testing.assert_array_equal(train.images, again.images)
    assert sorted(np.concatenate([train.labels, val.labels])) == list(range(20))
    assert not np.array_equal(pipeline.holdout(s, 6, seed=4)[1].labels, val.labels)


def test_holdout_rejects_bad_sizes():
    with pytest.raises(ValueError, match="dataset.val_size"):
        pipeline.holdout(split(), 20, seed=0)


def test_standardize_statistics_match_numpy():
    s = split(n=50)
    norm = pipeline.Normalizer.fit(s.images, "standardize")
    pixels = s.images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(norm.mean, pixels.mean(0))
    np.testing.assert_allclose(norm.std, pixels.std(0))
    out = np.asarray(norm(jnp.asarray(s.images))).reshape(-1, 3)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-5)


def test_scale01_and_none():
    x = jnp.array([[[[0, 255]]]], jnp.uint8)
    np.testing.assert_allclose(pipeline.Normalizer.fit(np.asarray(x), "scale01")(x), [[[[0, 1]]]])
    np.testing.assert_allclose(pipeline.Normalizer.fit(np.asarray(x), "none")(x), [[[[0, 255]]]])
    with pytest.raises(ValueError, match="standardize, scale01, none"):
        pipeline.Normalizer.fit(np.asarray(x), "whiten")


def test_imagenet_is_torchvisions_normalisation_of_rgb_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 3, 3, 3), dtype=np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    out = pipeline.Normalizer.fit(pixels, "imagenet")(jnp.asarray(pixels))
    np.testing.assert_allclose(out, (pixels / 255.0 - mean) / std, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="needs RGB images, got 1 channel"):
        pipeline.Normalizer.fit(pixels[..., :1], "imagenet")


def test_standardize_needs_uint8_images():
    with pytest.raises(ValueError, match="uint8 images, got float32"):
        pipeline.Normalizer.fit(np.zeros((2, 2, 2, 1), np.float32), "standardize")


def test_constant_channel_gets_unit_std():
    norm = pipeline.Normalizer.fit(np.full((2, 2, 2, 1), 7, np.uint8), "standardize")
    assert norm.std == (1.0,)


def test_epoch_permutation_depends_on_seed_and_epoch_only():
    p = np.asarray(pipeline.epoch_permutation(0, 1, 100))
    assert sorted(p) == list(range(100))
    np.testing.assert_array_equal(p, pipeline.epoch_permutation(0, 1, 100))
    assert not np.array_equal(p, pipeline.epoch_permutation(0, 2, 100))
    assert not np.array_equal(p, pipeline.epoch_permutation(1, 1, 100))


def test_padded_batches_count_every_example_once():
    s = split(n=10)
    images, labels, mask = pipeline.padded_batches(s, 4)
    assert images.shape == (3, 4, 4, 4, 3) and mask.sum() == 10
    np.testing.assert_array_equal(labels[mask == 1], np.arange(10))
    np.testing.assert_array_equal(images.reshape(12, 4, 4, 3)[:10], s.images)


def test_crop_is_a_shift_with_zero_fill():
    img = np.arange(1, 26, dtype=np.uint8).reshape(1, 5, 5, 1)
    aug = pipeline.Augment(crop_padding=2)
    out = np.asarray(aug(jax.random.PRNGKey(0), jnp.asarray(img)))
    # Recover the offset the crop drew and compare with a shifted copy made by NumPy.
    padded = np.pad(img[0, :, :, 0], 2)
    matches = [
        (dy, dx)
        for dy in range(5)
        for dx in range(5)
        if np.array_equal(padded[dy : dy + 5, dx : dx + 5], out[0, :, :, 0])
    ]
    assert len(matches) == 1


def test_crop_offsets_are_per_example_and_cover_the_range():
    imgs = jnp.tile(jnp.arange(1, 10, dtype=jnp.uint8).reshape(1, 3, 3, 1), (200, 1, 1, 1))
    out = np.asarray(pipeline.Augment(crop_padding=1)(jax.random.PRNGKey(1), imgs))
    assert len({o.tobytes() for o in out}) == 9  # all 3x3 offsets appear


def test_flip_and_determinism():
    imgs = jnp.asarray(split(n=64).images)
    aug = pipeline.Augment(horizontal_flip=True)
    out = np.asarray(aug(jax.random.PRNGKey(0), imgs))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, np.asarray(imgs))]
    kept = [np.array_equal(o, i) for o, i in zip(out, np.asarray(imgs))]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54
    np.testing.assert_array_equal(out, aug(jax.random.PRNGKey(0), imgs))
    assert not pipeline.Augment().enabled


def test_permute_pixels_moves_every_image_the_same_way():
    images = np.arange(2 * 2 * 3 * 2, dtype=np.uint8).reshape(2, 2, 3, 2)
    split = Split(images, np.array([0, 1], np.int32))
    order = pipeline.pixel_permutation(2, 3, seed=0)
    out = pipeline.permute_pixels(split, order)
    for n in range(2):
        np.testing.assert_array_equal(
            out.images[n].reshape(6, 2), images[n].reshape(6, 2)[order]
        )  # a pixel's channels move together
    inverse = np.argsort(order)
    back = pipeline.permute_pixels(out, inverse)
    np.testing.assert_array_equal(back.images, images)
    np.testing.assert_array_equal(out.labels, split.labels)
    assert not np.array_equal(out.images, images)
    np.testing.assert_array_equal(order, pipeline.pixel_permutation(2, 3, seed=0))


def test_subsample_is_deterministic_and_keeps_order():
    split = Split(np.zeros((10, 1, 1, 1), np.uint8), np.arange(10, dtype=np.int32))
    a = pipeline.subsample(split, 4, seed=3)
    assert len(a.labels) == 4 and list(a.labels) == sorted(a.labels)
    np.testing.assert_array_equal(a.labels, pipeline.subsample(split, 4, seed=3).labels)
    assert pipeline.subsample(split, 0, seed=3) is split
    with pytest.raises(ValueError, match=r"dataset.train_size must be in \[0, 10\], got 11"):
        pipeline.subsample(split, 11, seed=3)
