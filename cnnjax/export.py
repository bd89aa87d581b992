"""A trained run as a portable inference function: StableHLO through `jax.export`.

    exported = export.stablehlo(trained.load_trained("runs/mnist"))
    open("model.stablehlo", "wb").write(exported.serialize())
    logits = jax.export.deserialize(blob).call(uint8_images)  # (B, H, W, C) -> (B, classes)

The function takes the images as the run read them, uint8 (B, H, W, C) with any batch size B
(a symbolic dimension), and applies the run's own preprocessing: the pixel permutation if the
run permuted pixels, then its normalisation (the training split's per-channel statistics). The
model runs in inference mode (dropout off, batch-norm running statistics), with the trained
variables folded in as constants.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from cnnjax import pipeline


def inference_function(trained) -> Callable[[jax.Array], jax.Array]:
    """uint8 images (B, H, W, C) -> float32 logits of `trained` (cnnjax.train.trained.Trained)."""
    config, variables = trained.config, trained.variables
    height, width, _ = trained.test_images.shape[1:]
    order = None
    if config.dataset.permute_pixels:
        order = jnp.asarray(
            pipeline.pixel_permutation(height, width, config.dataset.split_seed)
        )

    def logits(images: jax.Array) -> jax.Array:
        if order is not None:  # out[n].reshape(H*W, C) = in[n].reshape(H*W, C)[order]
            n, h, w, c = images.shape
            images = images.reshape(n, h * w, c)[:, order].reshape(n, h, w, c)
        out = trained.model.apply(variables, trained.normalizer(images), train=False)
        return out.astype(jnp.float32)

    return logits


def stablehlo(trained) -> jax.export.Exported:
    """The inference function of `trained`, exported for a symbolic batch dimension."""
    height, width, channels = trained.test_images.shape[1:]
    (batch,) = jax.export.symbolic_shape("b")
    spec = jax.ShapeDtypeStruct((batch, height, width, channels), jnp.uint8)
    return jax.export.export(jax.jit(inference_function(trained)))(spec)
