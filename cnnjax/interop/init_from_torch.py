"""config.transfer.init_from_torch: a run that starts from torchvision's weights.

`validate(config)` (called by cnnjax.config.validate) checks, before any data is loaded, that
the run's model can take torchvision's weights: one of cnnjax.interop.torchvision.SUPPORTED,
with the constructor fields that give torchvision's function (ReLU, no LRN, the ResNets'
imagenet stem with option B shortcuts, googlenet with torchvision=True), and that the file
exists. `init_variables(config, variables, num_replicas)` (called by the training setup in
place of the source run's transplant) returns the fresh state's variables with every leaf
taken from the file, converted by `from_torchvision`; the `head` keeps its fresh
initialisation when transfer.reinit_head (a new number of classes). Any variable that one side
has and the other lacks, or a shape mismatch, is a ConfigError naming the variable, with the
field to change where there is one (VGG: adaptive_pool=7 at sizes other than 224; RGB input).
"""

from __future__ import annotations

import os
from typing import Any

import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from cnnjax import models, transfer
from cnnjax.interop import torchvision as tv

# Constructor fields that change what the model computes (not only its parameter shapes, which
# init_variables checks) and the value torchvision's architecture needs.
_REQUIRED = {
    "resnet": {"act": "relu", "stem": "imagenet", "shortcut": "B", "preact": False},
    "vgg": {"act": "relu"},
    "alexnet": {"act": "relu", "lrn": False},
    "googlenet": {"act": "relu", "torchvision": True},
}
_WHY = {
    "torchvision": "cnnjax's default googlenet differs from torchvision's in its stem padding "
    "(SAME: (2, 3) against (3, 3)), batch-norm epsilon (1e-5 against 1e-3), its pools (3x3/2 "
    "SAME before stage 5 against 2x2/2 ceil mode; ceil mode elsewhere) and its 5x5 branches "
    "(3x3 in torchvision)",
}


def _error(message: str) -> Exception:
    from cnnjax.config import ConfigError

    return ConfigError(message)


def _family(model: str) -> str:
    return "resnet" if model in tv.RESNETS else "vgg" if model in tv.VGGS else model


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError unless config.transfer.init_from_torch is '' or a file that can fit
    the model (the model's fields are checked here, the file's contents by init_variables)."""
    path = config.transfer.init_from_torch
    if path:
        _check_model(config)
        if not os.path.isfile(path):
            raise _error(f"transfer.init_from_torch={path!r}: no such file")


def _check_model(config: ml_collections.ConfigDict) -> None:
    from cnnjax.config import model_overrides

    field = f"transfer.init_from_torch={config.transfer.init_from_torch!r}"
    if config.transfer.init_from:
        raise _error(f"{field} and transfer.init_from are exclusive: set one of them to ''")
    if config.model not in tv.SUPPORTED:
        raise _error(
            f"{field}: model {config.model!r} has no torchvision mapping; "
            f"supported: {', '.join(tv.SUPPORTED)}"
        )
    fields = {**models.hyperparameters(config.model), **model_overrides(config)}
    for name, needed in _REQUIRED[_family(config.model)].items():
        if fields.get(name) != needed:
            why = f" ({_WHY[name]})" if name in _WHY else ""
            raise _error(
                f"{field}: torchvision's {config.model} needs model_args.{config.model}.{name}"
                f"={needed!r}, got {fields.get(name)!r}{why}"
            )


def _hint(model: str, key: tuple[str, ...], reinit_head: bool) -> str:
    module = key[1]
    if module == transfer.HEAD and not reinit_head:
        return " (set transfer.reinit_head=True for a new head)"
    if model in tv.VGGS and module == "dense0":
        return (
            f" (torchvision pools to 7x7 before its classifier: set "
            f"model_args.{model}.adaptive_pool=7, or use 224x224 images)"
        )
    if module in ("stem_conv", "conv1", "conv0_0") and key[-1] == "kernel":
        return " (torchvision's weights take RGB images: dataset.color_mode='rgb')"
    return ""


def init_variables(
    config: ml_collections.ConfigDict,
    variables: dict[str, Any],
    num_replicas: int = 1,
    state_dict: Any = None,
) -> dict[str, Any]:
    """`variables` ({'params', 'batch_stats'?}, each leaf with a leading axis of num_replicas
    when it is > 1) with every leaf from torchvision's state dict in
    config.transfer.init_from_torch (.pt / .pth, or .npz; `state_dict`, a mapping, if given,
    in its place), every replica the same, except the head's when config.transfer.reinit_head.
    Raises ConfigError naming any mismatch."""
    _check_model(config)
    path, model = config.transfer.init_from_torch, config.model
    reinit = config.transfer.reinit_head
    try:
        source = tv.from_torchvision(model, path if state_dict is None else state_dict, True)
    except tv.TorchvisionError as e:
        raise _error(f"transfer.init_from_torch={path!r}: {e}") from None
    flat_source = traverse_util.flatten_dict(source)
    out = {}
    for key, value in traverse_util.flatten_dict(variables).items():
        name, shape = "/".join(key), tuple(np.shape(value))
        if num_replicas > 1:
            shape = shape[1:]
        if reinit and key[1] == transfer.HEAD:
            out[key] = value
            continue
        if key not in flat_source:
            raise _error(
                f"transfer.init_from_torch: torchvision's {model} has no variable {name} "
                f"(is model_args.{model} torchvision's architecture?)"
            )
        theirs = flat_source[key].shape
        if theirs != shape:
            raise _error(
                f"transfer.init_from_torch: variable {name} is {theirs} in torchvision's "
                f"{model} and {shape} here" + _hint(model, key, reinit)
            )
        leaf = jnp.asarray(flat_source[key], getattr(value, "dtype", jnp.float32))
        out[key] = leaf if num_replicas == 1 else jnp.broadcast_to(leaf, (num_replicas, *shape))
    extra = sorted("/".join(k) for k in flat_source if k not in out)
    if extra:
        raise _error(
            f"transfer.init_from_torch: the model has no variable(s) {', '.join(extra)} of "
            f"torchvision's {model} (is model_args.{model} torchvision's architecture?)"
        )
    if reinit and not any(k[1] == transfer.HEAD for k in out):
        raise _error(f"transfer.reinit_head: the model has no module named {transfer.HEAD!r}")
    return traverse_util.unflatten_dict(out)
