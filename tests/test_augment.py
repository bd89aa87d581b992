"""cnnjax.augment against NumPy/SciPy references: exact shifts per fill mode, a general affine
transform, rotation by 90 degrees, identity at zero range, colour jitter, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as ndi

from cnnjax import augment

IMG = np.arange(8 * 8, dtype=np.float32).reshape(8, 8, 1)
# Our fill modes in SciPy's names (SciPy's 'wrap' is not periodic; 'grid-wrap' is).
SCIPY_MODE = {
    "nearest": "nearest",
    "constant": "constant",
    "reflect": "reflect",
    "wrap": "grid-wrap",
}


def scipy_affine(image, matrix, mode, cval=0.0):
    """Per channel, SciPy's bilinear pull resampling at matrix @ (row, col, 1)."""
    m = np.asarray(matrix, np.float64)
    return np.stack(
        [
            ndi.affine_transform(
                image[..., ch], m[:2, :2], m[:2, 2], order=1, mode=SCIPY_MODE[mode], cval=cval
            )  # fmt: skip
            for ch in range(image.shape[-1])
        ],
        axis=-1,
    )


def keras_matrix(h, w, theta, tr, tc, shear, zr, zc):
    """Keras' apply_affine_transform matrix (rotation @ shift @ shear @ zoom about the centre),
    written out in NumPy as an independent reference."""
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tr], [0, 1, tc], [0, 0, 1]])
    shr = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zr, 0, 0], [0, zc, 0], [0, 0, 1]])
    m = rot @ shift @ shr @ zoom
    ox, oy = h / 2 - 0.5, w / 2 - 0.5
    offset = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]])
    reset = np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])
    return offset @ m @ reset


def test_a_shift_of_3_pixels_with_nearest_fill():
    m = augment.affine_matrix((8, 8), shift=(3.0, 0.0))  # output row i samples input row i + 3
    out = np.asarray(augment.apply_affine(jnp.asarray(IMG), m, "nearest"))
    expected = IMG[np.minimum(np.arange(8) + 3, 7)]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", augment.FILL_MODES)
def test_integer_shift_per_fill_mode_equals_scipy(mode):
    m = augment.affine_matrix((8, 8), shift=(3.0, -2.0))
    out = np.asarray(augment.apply_affine(jnp.asarray(IMG), m, mode, cval=7.0))
    np.testing.assert_allclose(out, scipy_affine(IMG, m, mode, cval=7.0), atol=1e-4)
    if mode == "wrap":  # periodic: abcd|abcd
        np.testing.assert_array_equal(out, np.roll(IMG, (-3, 2), axis=(0, 1)))


@pytest.mark.parametrize("mode", augment.FILL_MODES)
def test_rotation_shear_zoom_and_shift_equal_keras_and_scipy(mode):
    rgb = np.random.default_rng(0).uniform(0, 255, (9, 7, 3)).astype(np.float32)
    args = dict(theta=30.0, tr=0.5, tc=-1.3, shear=10.0, zr=1.2, zc=0.9)
    reference = keras_matrix(9, 7, **args)
    m = augment.affine_matrix((9, 7), theta=30.0, shift=(0.5, -1.3), shear=10.0, zoom=(1.2, 0.9))
    np.testing.assert_allclose(np.asarray(m), reference, atol=1e-5)
    out = np.asarray(augment.apply_affine(jnp.asarray(rgb), m, mode, cval=5.0))
    np.testing.assert_allclose(out, scipy_affine(rgb, reference, mode, cval=5.0), atol=2e-3)


def test_rotation_by_90_degrees_is_a_quarter_turn():
    m = augment.affine_matrix((8, 8), theta=90.0)
    out = np.asarray(augment.apply_affine(jnp.asarray(IMG), m, "nearest"))
    np.testing.assert_allclose(out, np.rot90(IMG, k=-1, axes=(0, 1)), atol=1e-4)


def batch(n=4, channels=3):
    return jnp.asarray(np.random.default_rng(1).integers(0, 256, (n, 10, 10, channels)), jnp.uint8)


def test_zero_ranges_are_the_identity():
    images = batch()
    off = augment.Augment(fill_mode="wrap", cval=3.0)
    assert not off.enabled and off(jax.random.PRNGKey(0), images) is images
    # Every range on but at a tiny size: nothing moves by more than the interpolation error.
    tiny = augment.Augment(rotation_range=1e-6, width_shift_range=1e-9, zoom_range=1e-9)
    out = tiny(jax.random.PRNGKey(0), images)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), np.asarray(images, np.float32), atol=1e-2)


def test_same_key_same_batch_and_each_example_its_own_transform():
    aug = augment.Augment(rotation_range=30.0, zoom_range=0.2, horizontal_flip=True)
    same = jnp.broadcast_to(batch(1), (4, 10, 10, 3))
    a, b = aug(jax.random.PRNGKey(3), same), aug(jax.random.PRNGKey(3), same)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(a[0]), np.asarray(a[1]))
    assert not np.allclose(np.asarray(a), np.asarray(aug(jax.random.PRNGKey(4), same)))


def test_shift_range_in_pixels_moves_by_at_most_that_many():
    aug = augment.Augment(width_shift_range=2.0, fill_mode="constant", cval=0.0)
    line = np.zeros((1, 1, 10, 1), np.float32)
    line[0, 0, 5] = 255.0  # a dot in column 5
    for seed in range(5):
        out = np.asarray(aug(jax.random.PRNGKey(seed), jnp.asarray(line)))[0, 0, :, 0]
        centre = np.sum(out * np.arange(10)) / np.sum(out)  # mass is kept away from borders
        assert abs(centre - 5) <= 2 + 1e-4


def test_colour_jitter_brightness_adds_one_delta_and_contrast_keeps_the_mean():
    grey = jnp.full((3, 6, 6, 3), 128, jnp.uint8)
    out = np.asarray(augment.Augment(brightness=0.1)(jax.random.PRNGKey(0), grey))
    deltas = out - 128.0
    assert np.allclose(deltas, deltas[:, :1, :1, :1], atol=1e-3)  # one delta per image
    assert np.all(np.abs(deltas) <= 0.1 * 255 + 1e-3) and np.ptp(deltas[:, 0, 0, 0]) > 0
    # Mid-range pixels: a contrast factor <= 1.5 keeps them inside [0, 255] (no clipping).
    images = jnp.asarray(np.random.default_rng(2).integers(64, 192, (4, 6, 6, 3)), jnp.uint8)
    out = np.asarray(augment.Augment(contrast=0.5)(jax.random.PRNGKey(0), images))
    np.testing.assert_allclose(
        out.mean(axis=(1, 2)), np.asarray(images, np.float32).mean(axis=(1, 2)), atol=0.3
    )


def test_saturation_needs_rgb_and_bad_fill_mode_is_named():
    with pytest.raises(ValueError, match="saturation jitter needs RGB images, got 1 channel"):
        augment.Augment(saturation=0.3)(jax.random.PRNGKey(0), batch(channels=1))
    with pytest.raises(ValueError, match="unknown fill_mode 'mirror'; valid: nearest, constant"):
        augment.Augment(fill_mode="mirror")


def test_random_resized_crop_resamples_its_box_as_scipy_does():
    image = np.random.default_rng(0).random((12, 10, 2)).astype(np.float32) * 255
    for seed in range(4):
        key = jax.random.PRNGKey(seed)
        top, left, h, w = np.asarray(augment.resized_crop_box(key, (12, 10), 0.08), np.float64)
        area = h * w / 120
        assert 0.08 - 1e-6 <= area <= 1 + 1e-6 and 0 <= top <= 12 - h and 0 <= left <= 10 - w
        # the box's pixels, by SciPy, pixel centres aligned: row o -> top + (o + 1/2) h/12 - 1/2
        rows = top + (np.arange(12) + 0.5) * h / 12 - 0.5
        cols = left + (np.arange(10) + 0.5) * w / 10 - 0.5
        grid = np.meshgrid(rows, cols, indexing="ij")
        expected = np.stack(
            [ndi.map_coordinates(image[..., c], grid, order=1, mode="nearest") for c in (0, 1)],
            axis=-1,
        )
        box = augment.resized_crop_box(key, (12, 10), 0.08)
        got = np.asarray(augment.resized_crop(jnp.asarray(image), box))
        np.testing.assert_allclose(got, expected, atol=1e-3)


def test_random_resized_crop_leaves_the_other_draws_as_they_were():
    images = jnp.asarray(np.random.default_rng(1).random((4, 8, 8, 1)) * 255, jnp.float32)
    key = jax.random.PRNGKey(3)
    flip = augment.Augment(horizontal_flip=True)(key, images)
    both = augment.Augment(horizontal_flip=True, random_resized_crop=0.999999)
    # an (almost) full-area box of ratio r != 1 is clipped to the image: not the identity,
    # but each example is flipped exactly when it was flipped without the crop
    out = np.asarray(both(key, images))
    flipped = np.asarray(flip[:, :, 0] != images[:, :, 0]).any(axis=(1, 2))
    crop_only = np.asarray(augment.Augment(random_resized_crop=0.999999)(key, images))
    for i in range(4):
        expected = crop_only[i, :, ::-1] if flipped[i] else crop_only[i]
        np.testing.assert_allclose(out[i], expected, atol=1e-4)
    assert both.enabled and not augment.Augment().enabled
