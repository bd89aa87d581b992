"""torchvision ImageNet weights on cnnjax's models: `from_torchvision(name, state_dict)`.

`name` is one of SUPPORTED (torchvision's and cnnjax's registry name of the architecture);
the result is the {'params', 'batch_stats'} variables of
`cnnjax.models.create(name, num_classes, **model_overrides(name))`, num_classes read from the
state dict's last dense layer (1000 for torchvision's ImageNet weights). Per layer:

  conv weight (O, I, kh, kw) (OIHW)           -> kernel (kh, kw, I, O) (HWIO), bias as is;
  linear weight (out, in)                     -> kernel (in, out), bias as is;
  the first linear layer after a flatten      -> kernel rows reordered: torchvision flattens
      (C, H, W) maps as c*H*W + h*W + w, cnnjax flattens (H, W, C) as h*W*C + w*C + c, so
      kernel[(h, w, c), o] = weight[o, (c, h, w)]: weight.reshape(out, C, H, W)
      .transpose(2, 3, 1, 0).reshape(H*W*C, out) (VGG: 512x7x7, AlexNet: 256x6x6);
  batch norm weight, bias, running_mean, running_var -> params scale, bias and batch_stats
      mean, var (both compute (x - mean) / sqrt(var + eps) * scale + bias; eps 1e-5 in both
      for ResNet and VGG-BN, 1e-3 in torchvision's GoogLeNet and cnnjax's googlenet with
      torchvision=True); num_batches_tracked has no counterpart and is dropped.

Architecture differences (checked by running both on the same inputs, see
tests/test_interop_torchvision.py): the ResNets and AlexNet compute torchvision's functions
as they are (the ResNet stem pads 3 and its max pool 1, as torchvision's). VGG needs
`adaptive_pool=7` (torchvision's adaptive average pool to 7x7) except at 224x224, where the
pool is the identity. GoogLeNet needs `torchvision=True` (stem padding, epsilon, ceil-mode pools
and 3x3 '5x5' branches, cnnjax.models.inception) and, for torchvision's pretrained weights,
`transform_input=True` with ImageNet-normalised inputs (torchvision enables its
transform_input with those weights). Its auxiliary classifiers (aux1.*, aux2.*, training only,
in the downloaded weights file) have no counterpart: an error unless `drop_aux=True`.

Every state dict key must be used and every cnnjax variable found, with the right shape:
otherwise a TorchvisionError (a ValueError) names the keys and shapes. `to_torchvision` is
the inverse (a state dict of numpy arrays from cnnjax variables). `init_variables` is the
training setup's entry point for config.transfer.init_from_torch.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

from cnnjax import models, transfer
from cnnjax.models import vgg

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
VGGS = tuple(sorted(vgg.MODELS))
SUPPORTED = (*RESNETS, *VGGS, "alexnet", "googlenet")
AUX_PREFIXES = ("aux1.", "aux2.")
# The flattened maps (C, H, W) in front of the first dense layer, by architecture.
FLATTENED = {"vgg": (512, 7, 7), "alexnet": (256, 6, 6)}
INPUT_SHAPE = (1, 224, 224, 3)
_LEAF_TO_TORCH = {
    ("params", "kernel"): "weight",
    ("params", "bias"): "bias",
    ("params", "scale"): "weight",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


class TorchvisionError(transfer.TransferError):
    """A state dict that does not fit the cnnjax model; the message names keys and shapes."""


def check_name(name: str) -> None:
    if name not in SUPPORTED:
        raise TorchvisionError(
            f"no torchvision mapping for model {name!r}; supported: {', '.join(SUPPORTED)}"
        )


def model_overrides(name: str) -> dict[str, Any]:
    """The constructor fields with which cnnjax's model `name` computes torchvision's
    function at every input size (see the module docstring)."""
    check_name(name)
    if name in VGGS:
        return {"adaptive_pool": 7}
    if name == "googlenet":
        return {"torchvision": True, "dropout_rate": 0.2}
    return {}


def create_model(name: str, num_classes: int = 1000, **overrides):
    """cnnjax's model `name` with `model_overrides(name)` (updated by `overrides`)."""
    return models.create(name, num_classes, **{**model_overrides(name), **overrides})


def _layers(name: str) -> dict[str, tuple[str, str]]:
    """{cnnjax module path 'a/b': (torchvision module prefix, kind)}, kind one of 'conv',
    'dense', 'flat_dense' (the first dense layer after a flatten) and 'bn'."""
    table: dict[str, tuple[str, str]] = {}
    if name in RESNETS:
        fields = models.hyperparameters(name)
        table["stem_conv"], table["stem_norm"] = ("conv1", "conv"), ("bn1", "bn")
        convs = 2 if fields["block"] == "basic" else 3
        for i, size in enumerate(fields["stage_sizes"]):
            for j in range(size):
                ours, theirs = f"stage{i}_block{j}", f"layer{i + 1}.{j}"
                for k in range(1, convs + 1):
                    table[f"{ours}/conv{k}"] = (f"{theirs}.conv{k}", "conv")
                    table[f"{ours}/norm{k}"] = (f"{theirs}.bn{k}", "bn")
                table[f"{ours}/proj_conv"] = (f"{theirs}.downsample.0", "conv")
                table[f"{ours}/proj_norm"] = (f"{theirs}.downsample.1", "bn")
        table["head"] = ("fc", "dense")
    elif name in VGGS:
        fields, index = models.hyperparameters(name), 0
        for i, convs in enumerate(vgg.CONVS_PER_STAGE[fields["depth"]]):
            for j in range(convs):
                table[f"conv{i}_{j}"] = (f"features.{index}", "conv")
                if fields["batch_norm"]:
                    table[f"bn{i}_{j}"] = (f"features.{index + 1}", "bn")
                index += 3 if fields["batch_norm"] else 2  # conv, (bn,) relu
            index += 1  # the stage's max pool
        table["dense0"], table["dense1"] = ("classifier.0", "flat_dense"), ("classifier.3", "dense")
        table["head"] = ("classifier.6", "dense")
    elif name == "alexnet":
        for k, index in enumerate((0, 3, 6, 8, 10), start=1):
            table[f"conv{k}"] = (f"features.{index}", "conv")
        table["dense0"], table["dense1"] = ("classifier.1", "flat_dense"), ("classifier.4", "dense")
        table["head"] = ("classifier.6", "dense")
    elif name == "googlenet":
        from cnnjax.models.inception import GOOGLENET_STAGES

        units = {"conv1": "conv1", "conv2_reduce": "conv2", "conv2": "conv3"}
        branches = {"b1x1": "branch1", "b3x3_reduce": "branch2.0", "b3x3": "branch2.1"}
        branches.update({"b5x5_reduce": "branch3.0", "b5x5": "branch3.1", "pool_proj": "branch4.1"})
        for modules in GOOGLENET_STAGES.values():
            for key in modules:
                for ours, theirs in branches.items():
                    units[f"inception{key}/{ours}"] = f"inception{key}.{theirs}"
        for ours, theirs in units.items():
            table[f"{ours}/conv"] = (f"{theirs}.conv", "conv")
            table[f"{ours}/norm"] = (f"{theirs}.bn", "bn")
        table["head"] = ("fc", "dense")
    return table


def _head_key(name: str) -> str:
    return _layers(name)["head"][0] + ".weight"


@functools.lru_cache(maxsize=32)
def _expected(name: str, num_classes: int) -> dict[tuple[str, ...], tuple[int, ...]]:
    """The shapes of model `name`'s variables (an abstract init on a 224x224 RGB image)."""
    model = create_model(name, num_classes)
    x = jax.ShapeDtypeStruct(INPUT_SHAPE, jnp.float32)
    shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)
    return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(shapes).items()}


def _flattened(name: str) -> tuple[int, int, int]:
    return FLATTENED["vgg" if name in VGGS else name]


def _to_cnnjax(kind: str, leaf: str, value: np.ndarray, name: str) -> np.ndarray:
    """torchvision's array -> cnnjax's (the module docstring's layouts)."""
    if leaf != "kernel" or value.ndim < 2:
        return value
    if kind == "conv":
        return value.transpose(2, 3, 1, 0)
    if kind == "flat_dense":
        c, h, w = _flattened(name)
        return value.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
    return value.T


def _to_torch(kind: str, leaf: str, value: np.ndarray, name: str) -> np.ndarray:
    """cnnjax's array -> torchvision's: the inverse of `_to_cnnjax`."""
    if leaf != "kernel":
        return value
    if kind == "conv":
        return value.transpose(3, 2, 0, 1)
    if kind == "flat_dense":
        c, h, w = _flattened(name)
        return value.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * w)
    return value.T


def _torch_shape(kind: str, leaf: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if leaf != "kernel":
        return shape
    if kind == "conv":
        return (shape[3], shape[2], shape[0], shape[1])
    return (shape[1], shape[0])


def _mapping(name: str, num_classes: int):
    """[(cnnjax key, torchvision key, kind, cnnjax shape)] for every variable of the model."""
    table, out = _layers(name), []
    for key, shape in _expected(name, num_classes).items():
        module = "/".join(key[1:-1])
        if module not in table or (key[0], key[-1]) not in _LEAF_TO_TORCH:
            raise TorchvisionError(f"internal: no torchvision name for {'/'.join(key)} ({name})")
        prefix, kind = table[module]
        out.append((key, f"{prefix}.{_LEAF_TO_TORCH[key[0], key[-1]]}", kind, shape))
    return out


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor (bfloat16 has no numpy dtype)
        value = value.detach().cpu()
        value = value.float() if value.is_floating_point() else value
        return value.numpy()
    return np.asarray(value)


def load_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """{key: numpy array} from a state dict of torch tensors or arrays, from a .pt / .pth
    file holding one (torch.load(path, map_location='cpu', weights_only=True); needs torch),
    or from a .npz file of its arrays (numpy.savez(path, **state_dict); no torch needed)."""
    if isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(".npz"):
        with np.load(source) as npz:
            return {k: npz[k] for k in npz.files}
    if isinstance(source, (str, os.PathLike)):
        try:
            import torch
        except ImportError:
            raise TorchvisionError(
                f"reading {os.fspath(source)!r} needs torch (pip install 'cnnjax[torch]'); "
                "or pass the state dict as a dict of numpy arrays"
            ) from None
        if not os.path.isfile(source):
            raise TorchvisionError(f"no such file: {os.fspath(source)!r}")
        source = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise TorchvisionError(f"a state dict maps names to tensors, got {type(source)}")
    return {str(k): _numpy(v) for k, v in source.items()}


def from_torchvision(
    name: str, state_dict: str | os.PathLike | Mapping[str, Any], drop_aux: bool = False
) -> dict[str, dict]:
    """The cnnjax variables {'params', 'batch_stats'?} (float32 numpy arrays) of torchvision's
    `name` state dict (a mapping, or a .pt / .pth path), for `create_model(name, num_classes)`.
    `drop_aux`: leave out googlenet's auxiliary classifiers' keys (aux1.*, aux2.*).

    Raises TorchvisionError naming every missing, unexpected or wrongly shaped key."""
    check_name(name)
    sd = load_state_dict(state_dict)
    if drop_aux:
        aux = sorted(k for k in sd if k.startswith(AUX_PREFIXES))
        if aux:
            logging.info("from_torchvision(%s): dropped %d auxiliary keys", name, len(aux))
        sd = {k: v for k, v in sd.items() if not k.startswith(AUX_PREFIXES)}
    head = sd.get(_head_key(name))
    num_classes = int(head.shape[0]) if head is not None and head.ndim == 2 else 1000
    out, missing, wrong, used = {}, [], [], set()
    for key, tkey, kind, shape in _mapping(name, num_classes):
        if tkey not in sd:
            missing.append(tkey)
            continue
        used.add(tkey)
        value = sd[tkey]
        expected = _torch_shape(kind, key[-1], shape)
        if tuple(value.shape) != expected:
            wrong.append(
                f"{tkey} is {tuple(value.shape)}, expected {expected} "
                f"(cnnjax's {'/'.join(key)} {shape})"
            )
            continue
        out[key] = _to_cnnjax(kind, key[-1], value.astype(np.float32), name)
    bn_prefixes = {p for p, kind in _layers(name).values() if kind == "bn"}
    unexpected = sorted(
        k
        for k in sd
        if k not in used
        and not (k.endswith(".num_batches_tracked") and k.rsplit(".", 1)[0] in bn_prefixes)
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        hint = ""
        if any(k.startswith(AUX_PREFIXES) for k in unexpected):
            hint = " (aux1.*, aux2.*: torchvision's auxiliary classifiers; drop_aux=True)"
        problems.append(f"unexpected keys: {', '.join(unexpected)}{hint}")
    if wrong:
        problems.append(f"wrong shapes: {'; '.join(wrong)}")
    if problems:
        raise TorchvisionError(
            f"torchvision {name} state dict does not fit cnnjax's {name}: " + "; ".join(problems)
        )
    return traverse_util.unflatten_dict(out)


def to_torchvision(name: str, variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """torchvision's state dict (numpy arrays, without num_batches_tracked) of cnnjax
    variables of `create_model(name, num_classes)`: the inverse of `from_torchvision`."""
    check_name(name)
    flat = traverse_util.flatten_dict(dict(variables))
    num_classes = int(np.shape(flat["params", "head", "kernel"])[1])
    return {
        tkey: _to_torch(kind, key[-1], np.asarray(flat[key]), name)
        for key, tkey, kind, _ in _mapping(name, num_classes)
    }

