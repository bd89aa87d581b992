"""Mixup and CutMix: training on pairs of images blended, with their labels blended alike.

In batch mode (timm's default), one step draws one lam and pairs every image with the image at
the mirrored position of its batch (x_b = x[::-1], y_b = y[::-1]):

    mixup  (Zhang et al. 2018):  x' = lam x + (1 - lam) x_b,   lam ~ Beta(mixup_alpha, mixup_alpha)
    cutmix (Yun et al. 2019):    x' = x with a box pasted from x_b; the box has height
                                 H sqrt(1 - lam) and width W sqrt(1 - lam) around a uniform
                                 centre, clipped to the image, lam ~ Beta(cutmix_alpha, ...),
                                 then lam = 1 - (box area) / (H W), the share of x's pixels

and the loss is the same blend of the two labels' losses,

    loss = lam CE(logits, y) + (1 - lam) CE(logits, y_b)

(cross-entropy is linear in its target, so this equals CE against the blended one-hot target;
with label smoothing both targets are smoothed). With both alphas > 0 a step uses CutMix with
probability `switch_prob`, else mixup; `prob` is the probability that a step mixes at all. The
training accuracy counts a prediction as lam right when it is y and (1 - lam) when it is y_b.
Every draw comes from the step's key, so a resumed run mixes the same batches.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Mixing:
    """The config's mixing.* fields; both alphas 0 (the default) turn mixing off."""

    mixup_alpha: float = 0.0  # Beta(alpha, alpha) of mixup's lam; 0: no mixup
    cutmix_alpha: float = 0.0  # Beta(alpha, alpha) of CutMix's lam; 0: no CutMix
    prob: float = 1.0  # probability that a step mixes its batch
    switch_prob: float = 0.5  # with both alphas > 0: probability of CutMix rather than mixup

    @property
    def enabled(self) -> bool:
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def __call__(self, key: jax.Array, images: jax.Array, labels: jax.Array):
        """(mixed images, labels_b, lam) of a batch: images (B, H, W, C) float, labels (B,);
        lam a scalar float32 (1.0 when this step does not mix)."""
        k_mix, k_switch, k_mixup, k_cutmix, k_box = jax.random.split(key, 5)
        partner, labels_b = images[::-1], labels[::-1]
        candidates = []  # (lam, mixed images) of each kind of mixing that is on
        if self.mixup_alpha > 0:
            lam = jax.random.beta(k_mixup, self.mixup_alpha, self.mixup_alpha)
            candidates.append((lam, lam * images + (1 - lam) * partner))
        if self.cutmix_alpha > 0:
            drawn = jax.random.beta(k_cutmix, self.cutmix_alpha, self.cutmix_alpha)
            lam, box = cutmix_box(k_box, images.shape[1:3], drawn)
            candidates.append((lam, jnp.where(box[None, :, :, None], partner, images)))
        if not candidates:  # both alphas 0: nothing to mix
            return images, labels_b, jnp.ones((), jnp.float32)
        lam, mixed = candidates[0]
        if len(candidates) == 2:  # both on: CutMix with probability switch_prob
            use_cutmix = jax.random.bernoulli(k_switch, self.switch_prob)
            lam = jnp.where(use_cutmix, candidates[1][0], lam)
            mixed = jnp.where(use_cutmix, candidates[1][1], mixed)
        mixes = jax.random.bernoulli(k_mix, self.prob)
        lam = jnp.where(mixes, lam, 1.0).astype(jnp.float32)
        return jnp.where(mixes, mixed, images), labels_b, lam


def cutmix_box(key: jax.Array, shape: tuple[int, int], lam: jax.Array):
    """(lam, mask (H, W) bool): CutMix's box for a drawn lam (the module docstring), and lam
    recomputed as the share of pixels outside the box."""
    h, w = shape
    cut = jnp.sqrt(1.0 - lam)
    cut_h, cut_w = jnp.floor(h * cut), jnp.floor(w * cut)
    k_row, k_col = jax.random.split(key)
    cy = jax.random.randint(k_row, (), 0, h)
    cx = jax.random.randint(k_col, (), 0, w)
    top, bottom = jnp.clip(cy - cut_h // 2, 0, h), jnp.clip(cy + cut_h // 2, 0, h)
    left, right = jnp.clip(cx - cut_w // 2, 0, w), jnp.clip(cx + cut_w // 2, 0, w)
    rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    mask = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    return 1.0 - jnp.sum(mask) / (h * w), mask
