"""The model registry: one way in for every run, sweep, benchmark and test.

    model = cnnjax.models.create('lenet5', num_classes=10, dropout_rate=0.1)
    variables = model.init(rng, x, train=False)       # {'params', maybe 'batch_stats'}
    logits = model.apply(variables, x, train=False)   # (N, num_classes)

Every model is a Flax Linen module whose `__call__(x, train: bool)` takes float NHWC images
(N, H, W, C) and returns, by its `output_kind`:
  'logits'        (N, num_classes): image classifiers, the runner's and the sweeps' models;
  'pixel_logits'  (N, H, W, num_classes): per-pixel classifiers (segmentation, FCN);
  'image'         (N, H', W', num_classes): image-to-image models (super-resolution, a
                  GAN's generator of images from noise (N, 1, 1, Z)), whose num_classes is
                  the number of output channels;
  'flow'          (N, H, W, 2): optical flow (rows, columns, in pixels) from two frames
                  stacked on the channel axis (N, H, W, 2C);
  'gan'           (N, S, S, num_classes): a generator and discriminator pair (DC-GAN,
                  StackGAN) sampling images from noise (N, 1, 1, Z); `stages()` gives its
                  (generator, discriminator, image side) stages, which the GAN task trains.
Models `sow` their named intermediate
features (one per stage) into the `intermediates` collection, so
`model.apply(variables, x, train=False, mutable=['intermediates'])` returns them without
editing the model.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn

from cnnjax.models import (
    airbench,
    alexnet,
    cnn,
    cnn1d,
    dcgan,
    fcn,
    flownet,
    highway,
    inception,
    lenet,
    mlp,
    nin,
    resnet,
    stackgan,
    superres,
    vgg,
    xception,
)

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "mlp": mlp.MLP,
    "lenet5": lenet.LeNet5,
    "lenet5_1998": lenet.LeNet5_1998,
    "small_cnn": cnn.SmallCNN,
    **alexnet.MODELS,
    **airbench.MODELS,
    **vgg.MODELS,
    **nin.MODELS,
    **inception.MODELS,
    **resnet.MODELS,
    **xception.MODELS,
    **highway.MODELS,
    **cnn1d.MODELS,
    **fcn.MODELS,
    **superres.MODELS,
    **dcgan.MODELS,
    **stackgan.MODELS,
    **flownet.MODELS,
}
OUTPUT_KINDS = ("logits", "pixel_logits", "image", "flow", "gan")
_OUTPUT_KIND = {
    **{name: "pixel_logits" for name in fcn.MODELS},
    **{name: "image" for name in superres.MODELS},
    "dcgan_generator": "image",
    "flownet_simple": "flow",
    "dcgan": "gan",
    "stackgan": "gan",
}


# Models with parameters computed from training data after initialisation: name ->
# fn(model, normalised training images (N, H, W, C)) -> {parameter path: value}.
_DATA_INIT: dict[str, Callable] = {**airbench.DATA_INIT}


class UnknownModelError(ValueError):
    """Raised for a model name that is not in the registry."""


def list_models() -> list[str]:
    """Names accepted by `create`, sorted."""
    return sorted(_REGISTRY)


def check_name(name: str) -> None:
    """Raises `UnknownModelError` listing the valid names unless `name` is registered."""
    if name not in _REGISTRY:
        raise UnknownModelError(
            f"unknown model {name!r}; valid model names: {', '.join(list_models())}"
        )


def output_kind(name: str) -> str:
    """What model `name` returns: one of OUTPUT_KINDS (see the module docstring)."""
    check_name(name)
    return _OUTPUT_KIND.get(name, "logits")


def data_init(name: str) -> Callable | None:
    """The function that computes some of model `name`'s parameters from the (normalised)
    training images, `fn(model, images) -> {path tuple: value}`, or None: the training loop
    applies it to every fresh state (airbench's whitening layer)."""
    check_name(name)
    return _DATA_INIT.get(name)


def hyperparameters(name: str) -> dict[str, object]:
    """The constructor fields of model `name` and their defaults (what overrides may set)."""
    check_name(name)
    cls = _REGISTRY[name]
    cls = getattr(cls, "func", cls)  # functools.partial aliases
    fields = {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.init and f.name not in ("parent", "name", "num_classes")
    }
    defaults = getattr(_REGISTRY[name], "keywords", {})
    return {**fields, **defaults}


def create(name: str, num_classes: int, **overrides) -> nn.Module:
    """Builds registered model `name` with `num_classes` outputs.

    Args:
      name: a name from `list_models()`.
      num_classes: size of the logits' last axis.
      **overrides: constructor fields of the model (see `hyperparameters(name)`).

    Raises:
      UnknownModelError: `name` is not registered.
      TypeError: an override names a field the model does not have.
    """
    known = hyperparameters(name)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise TypeError(
            f"model {name!r} has no field(s) {', '.join(unknown)}; "
            f"its fields are: {', '.join(sorted(known))}"
        )
    return _REGISTRY[name](num_classes=num_classes, **overrides)
