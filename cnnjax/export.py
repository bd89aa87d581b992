"""A trained run as a portable inference function: StableHLO through `jax.export`, and, with
their optional extras, a TensorFlow SavedModel (jax2tf) and an ONNX model (jax2onnx).

    exported = export.stablehlo(trained.load_trained("runs/mnist"))
    open("model.stablehlo", "wb").write(exported.serialize())
    logits = jax.export.deserialize(blob).call(uint8_images)  # (B, H, W, C) -> (B, classes)
    export.savedmodel(trained, "model_savedmodel/")  # signature serving_default(images)
    open("model.onnx", "wb").write(export.onnx(trained).SerializeToString())  # input "images"

The function takes the images as the run read them, uint8 (B, H, W, C) with any batch size B
(a symbolic dimension), and applies the run's own preprocessing: the pixel permutation if the
run permuted pixels, then its normalisation (the training split's per-channel statistics). The
model runs in inference mode (dropout off, batch-norm running statistics), with the trained
variables folded in as constants. Every format carries the same function: the SavedModel
embeds its StableHLO (jax2tf's native serialization, run by TensorFlow's XlaCallModule op), and
the ONNX model is jax2onnx's translation of it into ONNX operators (opset 23).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

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


# format -> (the module it needs, the extra that installs it)
EXTRAS = {"savedmodel": ("tensorflow", "savedmodel"), "onnx": ("jax2onnx", "onnx")}


class MissingExtra(ImportError):
    """An export format whose optional dependency is not installed; the message says how."""


def require(fmt: str):
    """The module export format `fmt` ('savedmodel', 'onnx') needs; MissingExtra if absent."""
    module, extra = EXTRAS[fmt]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"exporting as {extra} needs {module} ({e}); install it with "
            f"pip install -e '.[{extra}]'"
        ) from None


def image_shape(trained) -> tuple[int, int, int]:
    """(H, W, C) of the images the exported function takes."""
    return tuple(int(d) for d in trained.test_images.shape[1:])


def savedmodel(trained, path: str) -> None:
    """Writes the inference function of `trained` as a TensorFlow SavedModel in folder `path`:
    signature `serving_default(images: uint8 (None, H, W, C)) -> {'output_0': logits}`
    (jax2tf, native serialization, no gradient). Needs tensorflow (the `savedmodel` extra)."""
    tf = require("savedmodel")
    from jax.experimental import jax2tf  # imports tensorflow: only here

    h, w, c = image_shape(trained)
    converted = jax2tf.convert(
        inference_function(trained), polymorphic_shapes=[f"(b, {h}, {w}, {c})"],
        with_gradient=False,
    )  # fmt: skip
    module = tf.Module()
    spec = tf.TensorSpec([None, h, w, c], tf.uint8, name="images")
    module.serve = tf.function(converted, input_signature=[spec], autograph=False)
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def onnx(trained) -> Any:
    """The inference function of `trained` as an ONNX ModelProto (jax2onnx): input 'images'
    uint8 ('B', H, W, C), output 'logits' float32 ('B', classes). Needs jax2onnx (the `onnx`
    extra)."""
    jax2onnx = require("onnx")
    spec = jax.ShapeDtypeStruct(("B", *image_shape(trained)), jnp.uint8)
    return jax2onnx.to_onnx(
        inference_function(trained), [spec], model_name="cnnjax",
        input_names=["images"], output_names=["logits"],
    )  # fmt: skip
