"""On-device, per-example random image augmentation, jit-compiled, with the semantics of Keras'
ImageDataGenerator for the geometric transforms, and the Inception recipe's random resized crop.

Images are (N, H, W, C) in pixel units (0..255). Each example draws its own parameters from its
own key (the batch key split N ways), so a given (seed, step) always gives the same batch and a
resumed run sees the same augmentations. In order:

0. Random resized crop (Szegedy et al. 2015, torchvision's RandomResizedCrop): a box of area
   a x H W, a ~ U(random_resized_crop, 1), and aspect ratio (width / height) r with
   log r ~ U(log 3/4, log 4/3), so height h = sqrt(a H W / r) and width w = sqrt(a H W r)
   (each clipped to the image), at a uniform position inside the image, resampled bilinearly
   back to H x W: output pixel o = (row, column) samples the input at
   (top, left) + (o + 1/2) (h / H, w / W) - 1/2.

1. Affine resampling (rotation, shift, shear, zoom), one bilinear interpolation per image
   (dm-pix). In (row, column) coordinates, output pixel o samples the input at

       p = C (R T S Z) C^-1 o,     C = translation to the centre ((H - 1) / 2, (W - 1) / 2),

   R = [[cos t, -sin t], [sin t, cos t]], t ~ U(-rotation_range, rotation_range) degrees;
   T = translation by (tr, tc): tr ~ U(-height_shift_range, height_shift_range) x H rows and
       tc ~ U(-width_shift_range, width_shift_range) x W columns (a range >= 1 is in pixels);
   S = [[1, -sin s], [0, cos s]], s ~ U(-shear_range, shear_range) degrees;
   Z = diag(zr, zc), zr and zc ~ U(1 - zoom_range, 1 + zoom_range) independently (> 1 shows
       more of the image, i.e. zooms out, as in Keras).
   Points outside the input take `fill_mode`: 'nearest' (aaaa|abcd|dddd), 'constant' (cval),
   'reflect' (dcba|abcd|dcba) or 'wrap' (abcd|abcd|abcd).
2. Random crop: pad `crop_padding` pixels on each side (zeros, or `crop_pad_mode` 'reflect':
   mirrored without repeating the edge, dcb|abcd|cba, PyTorch's and NumPy's 'reflect'), crop
   back to H x W at a uniform offset: a random translation by up to crop_padding pixels.
3. Horizontal flip with probability 1/2.
4. Colour jitter on x / 255 in [0, 1] (dm-pix), clipped back to [0, 1]: brightness adds
   delta ~ U(-brightness, brightness); contrast scales each channel about its mean by
   U(1 - contrast, 1 + contrast); saturation (RGB only) scales the distance from grey by
   U(1 - saturation, 1 + saturation).

Alternating flips (airbench) are not drawn per step: image i is mirrored in the epochs e with
(e + b_i) odd, b_i ~ Bernoulli(1/2) drawn once per image and seed (`alternating_flip`), so
every image is seen mirrored in every other epoch; the training step applies them, since they
depend on the example's index and the epoch.

Crop and flip keep the input dtype (uint8 data stays uint8); affine resampling and colour
jitter return float32 pixel values.
"""

from __future__ import annotations

import dataclasses

import dm_pix as pix
import jax
import jax.numpy as jnp

FILL_MODES = ("nearest", "constant", "reflect", "wrap")
CROP_PAD_MODES = ("zeros", "reflect")  # how crop_padding pads: zeros, or dcb|abcd|cba
RESIZED_CROP_RATIOS = (3 / 4, 4 / 3)  # the box's aspect ratios (width / height), log-uniform


def affine_matrix(
    shape: tuple[int, int],
    theta: jax.Array | float = 0.0,
    shift: tuple = (0.0, 0.0),
    shear: jax.Array | float = 0.0,
    zoom: tuple = (1.0, 1.0),
) -> jax.Array:
    """The (3, 3) homogeneous pull matrix C R T S Z C^-1 of the module docstring for an image
    of `shape` (H, W): theta and shear in degrees, shift (rows, columns) in pixels, zoom
    (rows, columns)."""
    t, s = jnp.deg2rad(theta), jnp.deg2rad(shear)
    one, zero = jnp.ones(()), jnp.zeros(())
    rows = lambda *r: jnp.stack([jnp.stack([jnp.asarray(v, jnp.float32) for v in x]) for x in r])
    rotation = rows((jnp.cos(t), -jnp.sin(t), zero), (jnp.sin(t), jnp.cos(t), zero), (0, 0, one))
    translation = rows((one, zero, shift[0]), (zero, one, shift[1]), (0, 0, one))
    shearing = rows((one, -jnp.sin(s), zero), (zero, jnp.cos(s), zero), (0, 0, one))
    scaling = rows((zoom[0], zero, zero), (zero, zoom[1], zero), (0, 0, one))
    cr, cc = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    centre = jnp.array([[1.0, 0.0, cr], [0.0, 1.0, cc], [0.0, 0.0, 1.0]])
    back = jnp.array([[1.0, 0.0, -cr], [0.0, 1.0, -cc], [0.0, 0.0, 1.0]])
    return centre @ rotation @ translation @ shearing @ scaling @ back


def _check_fill_mode(fill_mode: str) -> None:
    if fill_mode not in FILL_MODES:
        raise ValueError(f"unknown fill_mode {fill_mode!r}; valid: {', '.join(FILL_MODES)}")


def apply_affine(
    image: jax.Array, matrix: jax.Array, fill_mode: str = "nearest", cval: float = 0.0
) -> jax.Array:
    """image (H, W, C) resampled bilinearly at matrix @ (row, column, 1) of every output pixel
    (the channel axis untouched); float32 out."""
    _check_fill_mode(fill_mode)
    full = jnp.eye(4).at[:2, :2].set(matrix[:2, :2]).at[:2, 3].set(matrix[:2, 2])
    return pix.affine_transform(image.astype(jnp.float32), full, order=1, mode=fill_mode, cval=cval)


def resized_crop_box(key: jax.Array, shape: tuple[int, int], min_area: float) -> jax.Array:
    """(top, left, height, width) in pixels, floats, of a random resized crop's box in an image
    of `shape` (H, W) (step 0 of the module docstring)."""
    h, w = shape
    k_area, k_ratio, k_top, k_left = jax.random.split(key, 4)
    area = jax.random.uniform(k_area, (), minval=min_area, maxval=1.0) * h * w
    low, high = (jnp.log(r) for r in RESIZED_CROP_RATIOS)
    ratio = jnp.exp(jax.random.uniform(k_ratio, (), minval=low, maxval=high))
    box_h = jnp.clip(jnp.sqrt(area / ratio), 1.0, h)
    box_w = jnp.clip(jnp.sqrt(area * ratio), 1.0, w)
    top = jax.random.uniform(k_top, ()) * (h - box_h)
    left = jax.random.uniform(k_left, ()) * (w - box_w)
    return jnp.stack([top, left, box_h, box_w])


def resized_crop(image: jax.Array, box: jax.Array) -> jax.Array:
    """image (H, W, C) cropped to box (top, left, height, width) and resampled bilinearly back
    to H x W (pixel centres aligned); float32 out."""
    h, w = image.shape[:2]
    sr, sc = box[2] / h, box[3] / w
    matrix = jnp.array(
        [[sr, 0.0, box[0] + 0.5 * sr - 0.5], [0.0, sc, box[1] + 0.5 * sc - 0.5], [0, 0, 1.0]]
    )
    return apply_affine(image, matrix, "nearest")


def _shift_pixels(key: jax.Array, shift_range: float, size: int) -> jax.Array:
    """A shift drawn from U(-r, r) x size (r < 1: a fraction of the size) or U(-r, r) pixels."""
    scale = size if shift_range < 1 else 1.0
    return jax.random.uniform(key, (), minval=-shift_range, maxval=shift_range) * scale


@dataclasses.dataclass(frozen=True)
class Augment:
    """The transforms of the module docstring; every range 0 (the default) turns its one off."""

    crop_padding: int = 0  # pixels of padding on each side before cropping back
    horizontal_flip: bool = False
    rotation_range: float = 0.0  # degrees
    width_shift_range: float = 0.0  # fraction of the width (< 1) or pixels (>= 1)
    height_shift_range: float = 0.0  # fraction of the height (< 1) or pixels (>= 1)
    shear_range: float = 0.0  # degrees
    zoom_range: float = 0.0  # zoom factors in [1 - zoom_range, 1 + zoom_range]
    fill_mode: str = "nearest"  # nearest | constant | reflect | wrap
    cval: float = 0.0  # fill value (pixel units) for fill_mode 'constant'
    brightness: float = 0.0  # max |delta| on [0, 1] pixel values
    contrast: float = 0.0  # contrast factors in [1 - contrast, 1 + contrast]
    saturation: float = 0.0  # saturation factors in [1 - saturation, 1 + saturation] (RGB)
    random_resized_crop: float = 0.0  # smallest area fraction of the box (0.08: Inception)
    crop_pad_mode: str = "zeros"  # how crop_padding pads: zeros | reflect (dcb|abcd|cba)

    def __post_init__(self):
        _check_fill_mode(self.fill_mode)
        if self.crop_pad_mode not in CROP_PAD_MODES:
            raise ValueError(
                f"unknown crop_pad_mode {self.crop_pad_mode!r}; valid: {', '.join(CROP_PAD_MODES)}"
            )

    @property
    def affine(self) -> bool:
        ranges = (self.rotation_range, self.width_shift_range, self.height_shift_range)
        return any(r > 0 for r in ranges + (self.shear_range, self.zoom_range))

    @property
    def colour(self) -> bool:
        return self.brightness > 0 or self.contrast > 0 or self.saturation > 0

    @property
    def enabled(self) -> bool:
        geometric = self.affine or self.crop_padding > 0 or self.random_resized_crop > 0
        return geometric or self.colour or self.horizontal_flip

    def _one(self, key: jax.Array, image: jax.Array) -> jax.Array:
        """One example (H, W, C) with its own key."""
        h, w, c = image.shape
        keys = jax.random.split(key, 10)
        if self.random_resized_crop:  # its own key, leaving the others' draws as they were
            box = resized_crop_box(jax.random.fold_in(key, 10), (h, w), self.random_resized_crop)
            image = resized_crop(image, box)
        if self.affine:
            uniform = lambda k, r: jax.random.uniform(k, (), minval=-r, maxval=r)
            matrix = affine_matrix(
                (h, w),
                theta=uniform(keys[0], self.rotation_range),
                shift=(
                    _shift_pixels(keys[1], self.height_shift_range, h),
                    _shift_pixels(keys[2], self.width_shift_range, w),
                ),
                shear=uniform(keys[3], self.shear_range),
                zoom=tuple(1.0 + uniform(k, self.zoom_range) for k in (keys[4], keys[5])),
            )
            image = apply_affine(image, matrix, self.fill_mode, self.cval)
        if self.crop_padding:
            p = self.crop_padding
            mode = "constant" if self.crop_pad_mode == "zeros" else "reflect"
            padded = jnp.pad(image, ((p, p), (p, p), (0, 0)), mode=mode)
            offset = jax.random.randint(keys[6], (2,), 0, 2 * p + 1)
            image = jax.lax.dynamic_slice(padded, (offset[0], offset[1], 0), (h, w, c))
        if self.horizontal_flip:
            image = jnp.where(jax.random.bernoulli(keys[7]), image[:, ::-1, :], image)
        if self.colour:
            x = image.astype(jnp.float32) / 255.0
            if self.brightness:
                x = pix.random_brightness(keys[8], x, self.brightness)
            if self.contrast:
                x = pix.random_contrast(keys[9], x, 1 - self.contrast, 1 + self.contrast)
            if self.saturation:
                if c != 3:
                    raise ValueError(f"saturation jitter needs RGB images, got {c} channel(s)")
                k = jax.random.fold_in(keys[9], 1)
                x = pix.random_saturation(k, x, 1 - self.saturation, 1 + self.saturation)
            image = jnp.clip(x, 0.0, 1.0) * 255.0
        return image

    def __call__(self, key: jax.Array, images: jax.Array) -> jax.Array:
        """images (N, H, W, C) -> (N, H, W, C): the input dtype for crop and flip alone, else
        float32 pixel values."""
        if not self.enabled:
            return images
        return jax.vmap(self._one)(jax.random.split(key, images.shape[0]), images)


def alternating_flip(
    key: jax.Array, images: jax.Array, ids: jax.Array, epoch: jax.Array
) -> jax.Array:
    """images (B, H, W, C) of examples `ids` (B,) in epoch `epoch`, image i mirrored when
    (epoch + b_i) is odd, b_i = Bernoulli(1/2) drawn from fold_in(key, id_i): the same coin for
    an example in every epoch, so each image alternates between its two mirror images."""
    coin = jax.vmap(lambda i: jax.random.bernoulli(jax.random.fold_in(key, i)))(ids)
    mirror = coin ^ (epoch % 2 == 1)
    return jnp.where(mirror[:, None, None, None], images[:, :, ::-1], images)
