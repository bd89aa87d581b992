"""Reusing a trained network: start from another run's weights, freeze its first layers, and
probe its features with a linear SVM.

Every registered model ends in a Dense module named `head` (the logits). Transfer works on
variable paths, so it needs no change to the models:

- `transplant(target, source, reinit_head)`: the target's variables with every leaf copied
  from the source run's variables at the same path; the `head` keeps its fresh initialisation
  when `reinit_head` (a new task, possibly a new number of classes). Any other path or shape
  mismatch is an error naming the leaf: the two runs must be the same architecture.
- `frozen_modules(model, input_shape, k)`: "the first k layers" as modules. Weight layers are
  the modules owning a `kernel` (convolutions and dense layers) in forward (call) order; the
  frozen set is every module owning variables that is entered before the (k+1)-th weight
  layer, so a convolution's batch norm is frozen with it. The head is never frozen.
- `freeze(tx, frozen)`: the optimizer with zero updates for the frozen modules' parameters
  (`optax.multi_transform` with `optax.set_to_zero`); `frozen_apply(apply_fn, frozen)`: the
  model's apply with the frozen BatchNorm modules normalising by their running statistics
  even in training, and so never updating them (the Keras convention for a frozen base), and
  no gradient flowing into the frozen modules (the backward pass skips them).
- `head_inputs` and `fit_linear_svm`: the penultimate features (the head's input) of a trained
  network and scikit-learn's linear SVM on them, its C chosen on the validation split.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

HEAD = "head"
Path = tuple[str, ...]


class TransferError(ValueError):
    """The source run does not fit the target model; the message names the variable."""


def _owner(key: tuple[str, ...]) -> Path:
    """The module path of a flattened variable key (collection, *module path, name)."""
    return tuple(key[1:-1])


def module_order(model: nn.Module, input_shape: Sequence[int]) -> tuple[list[Path], dict]:
    """(module paths in the order a forward pass first enters them, abstract variables) of
    `model` on one input of `input_shape` (1, H, W, C): an abstract trace, no FLOPs."""
    x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)
    entered: list[Path] = []

    def interceptor(next_fun, args, kwargs, context):
        if context.module.path not in entered:
            entered.append(context.module.path)
        return next_fun(*args, **kwargs)

    def forward(v, x):
        with nn.intercept_methods(interceptor):
            return model.apply(v, x, train=False)

    jax.eval_shape(forward, variables, x)
    return entered, variables


def _owners_and_layers(model: nn.Module, input_shape: Sequence[int]):
    """(modules owning variables, modules owning a `kernel`), both in forward order."""
    entered, variables = module_order(model, input_shape)
    flat = traverse_util.flatten_dict(variables)
    owners = {_owner(key) for key in flat}
    kernels = {_owner(key) for key in flat if key[-1] == "kernel"}
    owned = [m for m in entered if m in owners]
    return owned, [m for m in owned if m in kernels]


def weight_layers(model: nn.Module, input_shape: Sequence[int]) -> list[Path]:
    """Paths of the modules owning a `kernel` parameter, in forward order (the head last)."""
    return _owners_and_layers(model, input_shape)[1]


def frozen_modules(model: nn.Module, input_shape: Sequence[int], k: int) -> tuple[Path, ...]:
    """The modules frozen by `freeze_layers=k`: every module owning variables entered before
    the (k+1)-th weight layer. Raises ValueError unless 0 <= k < number of weight layers."""
    if k == 0:
        return ()
    owned, layers = _owners_and_layers(model, input_shape)
    if not 0 < k < len(layers):
        raise ValueError(
            f"transfer.freeze_layers={k}: this model has {len(layers)} weight layers "
            f"({', '.join('/'.join(m) for m in layers)}); at most {len(layers) - 1} can be "
            f"frozen, the head always trains"
        )
    return tuple(owned[: owned.index(layers[k])])


def _is_frozen(path: Path, frozen: set[Path]) -> bool:
    return any(path[: len(f)] == f for f in frozen)


def freeze(
    tx: optax.GradientTransformation, frozen: Sequence[Path]
) -> optax.GradientTransformation:
    """`tx` for the trainable parameters, zero updates for those of the `frozen` modules."""
    if not frozen:
        return tx
    frozen_set = set(frozen)

    def labels(params):
        flat = traverse_util.flatten_dict(params)
        return traverse_util.unflatten_dict(
            {k: "frozen" if _is_frozen(k[:-1], frozen_set) else "train" for k in flat}
        )

    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)


def frozen_apply(apply_fn: Callable, frozen: Sequence[Path]) -> Callable:
    """`apply_fn` with the `frozen` modules fixed: every BatchNorm among them in inference
    mode (it normalises with its running mean and variance, in training too, and leaves them
    unchanged), and every frozen module's output passed through lax.stop_gradient, so that no
    gradient flows into them and the backward pass skips them. The frozen modules are the first
    in forward order, so nothing trainable lies upstream of them: the other parameters'
    gradients are unchanged, and the frozen ones' data gradient is zero (they get no updates
    anyway, `freeze`)."""
    frozen_set = set(frozen)
    if not frozen_set:
        return apply_fn

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name != "__call__" or not _is_frozen(module.path, frozen_set):
            return next_fun(*args, **kwargs)
        if isinstance(module, nn.BatchNorm) and module.path in frozen_set:
            kwargs = {k: v for k, v in kwargs.items() if k != "use_running_average"}
            unbound = module.clone(parent=None, use_running_average=None)
            out = unbound.apply(module.variables, *args, use_running_average=True, **kwargs)
        else:
            out = next_fun(*args, **kwargs)
        return jax.tree.map(jax.lax.stop_gradient, out)

    def apply(*args, **kwargs):
        with nn.intercept_methods(interceptor):
            return apply_fn(*args, **kwargs)

    return apply


def transplant(target: dict[str, Any], source: dict[str, Any], reinit_head: bool) -> dict:
    """`target` variables ({'params', 'batch_stats'?}) with every leaf taken from `source`
    (same path, same shape), except the head's when `reinit_head`."""
    flat_source = traverse_util.flatten_dict(source)
    out = {}
    for key, value in traverse_util.flatten_dict(target).items():
        name = "/".join(key)
        if reinit_head and key[1] == HEAD:
            out[key] = value
        elif key not in flat_source:
            raise TransferError(f"transfer.init_from: the source run has no variable {name}")
        elif np.shape(flat_source[key]) != np.shape(value):
            raise TransferError(
                f"transfer.init_from: variable {name} is {np.shape(flat_source[key])} in the "
                f"source run and {np.shape(value)} here"
                + ("" if key[1] != HEAD else " (set transfer.reinit_head=True for a new head)")
            )
        else:
            out[key] = jnp.asarray(flat_source[key], jnp.asarray(value).dtype)
    if reinit_head and not any(key[1] == HEAD for key in out):
        raise TransferError(f"transfer.reinit_head: the model has no module named {HEAD!r}")
    return traverse_util.unflatten_dict(out)


def head_inputs(
    apply_fn: Callable, variables: dict[str, Any], images: jax.Array, batch_size: int = 500
) -> np.ndarray:
    """The penultimate features: what the `head` module receives, flattened to (N, D), for
    normalised `images` (N, ...) in inference mode, computed `batch_size` images at a time."""

    def features(v, x):
        captured = []

        def interceptor(next_fun, args, kwargs, context):
            if context.module.path == (HEAD,) and context.method_name == "__call__":
                captured.append(args[0])
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(interceptor):
            apply_fn(v, x, train=False)
        if not captured:
            raise TransferError(f"the model has no module named {HEAD!r}")
        return captured[0].reshape(x.shape[0], -1)

    compiled = jax.jit(features)
    starts = range(0, len(images), batch_size)
    parts = [compiled(variables, images[i : i + batch_size]) for i in starts]
    return np.asarray(jnp.concatenate(parts))


def fit_linear_svm(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    cs: Sequence[float],
    seed: int,
) -> dict[str, float]:
    """A linear SVM (scikit-learn's LinearSVC, one-vs-rest, squared hinge) on standardised
    features: fitted on `train` for every C in `cs`, the C with the best `val` accuracy kept.
    Each argument is (features (N, D), labels (N,)). Returns the accuracies and C."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    best = None
    for c in cs:
        svm = make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=5000, random_state=seed))
        svm.fit(*train)
        score = svm.score(*val)
        if best is None or score > best[0]:
            best = (score, c, svm)
    val_accuracy, c, svm = best
    return {
        "C": c,
        "train_accuracy": float(svm.score(*train)),
        "val_accuracy": float(val_accuracy),
        "test_accuracy": float(svm.score(*test)),
    }
