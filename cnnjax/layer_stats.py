"""Per-layer statistics of a network on one batch: gradient norms, activation moments, saturated
and dead units. Works for any registered model without editing it, and costs nothing when off.

How it sees inside a model: every model applies its nonlinearities through
`cnnjax.layers.activation`, whose functions call `record_activation`. That does nothing unless
`measure` is tracing the model, with a Flax method interceptor (`nn.intercept_methods`) that
tracks which module is running; then the activation's output is sown into that module's
'activations' collection. Outside `measure` the check happens once, at trace time, so compiled
training steps are unchanged.

The statistics, for a batch x of B examples in training mode (batch norm on batch statistics,
dropout on, with a fixed key) and the mean cross-entropy L of the logits (no weight penalty):
  grad_norm[l]  sqrt(sum over the weights w of layer l of (dL/dw)^2), the norm of the gradient
                of its 'kernel', for every module with a kernel: convolutions and dense layers
                ('layers', named by module path, in the order of the forward pass; biases and
                batch-norm scales are left out);
  for every call of an activation ('activations', '<module path>/<name>[i]', forward order), on
  its output y of shape (B, ..., units):
  act_mean, act_std   the mean and standard deviation over all elements of y;
  saturated  for a bounded activation (BOUNDS), the fraction of elements within
             SATURATION_MARGIN of the range from either bound; NaN for unbounded ones;
  dead       for ReLU, the fraction of units (the last axis: channels or neurons) that output
             zero for every example and position of the batch, and so pass no gradient to the
             layers below; NaN for other activations (their gradient is not zero there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Any, Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from cnnjax import losses

COLLECTION = "activations"
# The output range of each bounded activation (cnnjax.layers.ACTIVATIONS).
BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "scaled_tanh": (-1.7159, 1.7159)}
# An element is saturated within this fraction of the range from a bound: sigmoid outside
# [0.025, 0.975], tanh outside [-0.95, 0.95].
SATURATION_MARGIN = 0.025


class _Trace(threading.local):
    """The state of the trace in progress: the stack of running modules, the activation calls
    and the modules called, in order (None while not tracing)."""

    def __init__(self):
        self.stack: list[nn.Module] | None = None
        self.activations: list[tuple[tuple[str, ...], str, int]] = []
        self.modules: list[tuple[str, ...]] = []


_trace = _Trace()


def record_activation(name: str, y: jax.Array) -> None:
    """Sows activation `name`'s output `y` into the running module, while `measure` traces."""
    if not _trace.stack:
        return
    module = _trace.stack[-1]
    index = sum(1 for path, n, _ in _trace.activations if path == module.path and n == name)
    _trace.activations.append((module.path, name, index))
    module.sow(COLLECTION, name, y)


def _interceptor(next_fun, args, kwargs, context):
    _trace.stack.append(context.module)
    if context.module.path not in _trace.modules:
        _trace.modules.append(context.module.path)
    try:
        return next_fun(*args, **kwargs)
    finally:
        _trace.stack.pop()


@contextlib.contextmanager
def _tracing() -> Iterator[_Trace]:
    if _trace.stack is not None:
        raise RuntimeError("layer_stats.measure cannot be nested")
    _trace.stack, _trace.activations, _trace.modules = [], [], []
    try:
        with nn.intercept_methods(_interceptor):
            yield _trace
    finally:
        _trace.stack = None


@dataclasses.dataclass(frozen=True)
class Layout:
    """Names of what the statistics arrays hold, in forward order."""

    layers: tuple[str, ...]  # modules with a kernel: grad_norm
    activations: tuple[str, ...]  # activation calls: act_mean, act_std, saturated, dead
    kinds: tuple[str, ...]  # the activation of each call ('relu', 'tanh', ...)


def _saturated(kind: str, y: jax.Array) -> jax.Array:
    if kind not in BOUNDS:
        return jnp.asarray(jnp.nan, jnp.float32)
    low, high = BOUNDS[kind]
    margin = SATURATION_MARGIN * (high - low)
    return jnp.mean((y < low + margin) | (y > high - margin))


def _dead(kind: str, y: jax.Array) -> jax.Array:
    if kind != "relu":
        return jnp.asarray(jnp.nan, jnp.float32)
    return jnp.mean(jnp.all(y <= 0, axis=tuple(range(y.ndim - 1))))  # over (units,)


class Measure:
    """`measure(variables, images, labels, rng) -> stats`, and `measure.layout` once traced.

    `apply_fn` is a Linen apply (`model.apply`) taking `train` and a 'dropout' rng; `variables`
    holds 'params' and, for models with batch norm, 'batch_stats' (not updated); images
    (B, ...) normalised float32, labels (B,) int32. `stats` maps 'grad_norm' to an array
    (len(layout.layers),) and 'act_mean', 'act_std', 'saturated', 'dead' to arrays
    (len(layout.activations),). Pure and jit-compatible; the Layout is set while tracing, so
    `jax.eval_shape(measure, ...)` gives it without computing anything.
    """

    def __init__(self, apply_fn: Callable):
        self.apply_fn = apply_fn
        self.layout: Layout | None = None

    def __call__(self, variables, images, labels, rng) -> dict[str, jax.Array]:
        others = {k: v for k, v in variables.items() if k != "params"}
        mutable = [COLLECTION] + (["batch_stats"] if "batch_stats" in others else [])
        traced = {}

        def loss(params):
            with _tracing() as trace:
                logits, cols = self.apply_fn(
                    {"params": params, **others},
                    images,
                    train=True,
                    rngs={"dropout": rng},
                    mutable=mutable,
                )
                traced.update(calls=list(trace.activations), modules=list(trace.modules))
            sown, outputs = cols.get(COLLECTION, {}), []
            for path, name, index in traced["calls"]:
                node = sown
                for part in path:
                    node = node[part]
                outputs.append(node[name][index])
            return jnp.mean(losses.cross_entropy(logits, labels)), outputs

        grads, outputs = jax.grad(loss, has_aux=True)(variables["params"])
        squares = {  # module path -> sum of its kernel's squared gradients
            key[:-1]: jnp.sum(jnp.square(g))
            for key, g in traverse_util.flatten_dict(grads).items()
            if key[-1] == "kernel"
        }
        modules = traced["modules"]
        order = [m for m in modules if m in squares] + [m for m in squares if m not in modules]
        calls = traced["calls"]
        kinds = tuple(name for _, name, _ in calls)
        self.layout = Layout(
            layers=tuple("/".join(m) for m in order),
            activations=tuple("/".join(path + (f"{name}[{i}]",)) for path, name, i in calls),
            kinds=kinds,
        )
        return {
            "grad_norm": jnp.sqrt(_stack([squares[m] for m in order])),
            "act_mean": _stack([jnp.mean(y) for y in outputs]),
            "act_std": _stack([jnp.std(y) for y in outputs]),
            "saturated": _stack([_saturated(k, y) for k, y in zip(kinds, outputs)]),
            "dead": _stack([_dead(k, y) for k, y in zip(kinds, outputs)]),
        }


def _stack(values: list) -> jax.Array:
    if not values:
        return jnp.zeros((0,), jnp.float32)
    return jnp.stack([jnp.asarray(v, jnp.float32) for v in values])


def to_record(layout: Layout, stats: dict[str, Any]) -> dict[str, Any]:
    """The statistics as a JSON-ready dict of parallel lists (metrics.jsonl keeps the order of
    lists, while it sorts keys): {'layers', 'grad_norm', 'activations', 'kinds', 'act_mean',
    'act_std', 'saturated' (None for unbounded activations), 'dead' (None except for ReLU)}."""
    as_list = lambda a: [None if np.isnan(v) else float(v) for v in np.asarray(a)]
    return {
        "layers": list(layout.layers),
        "grad_norm": as_list(stats["grad_norm"]),
        "activations": list(layout.activations),
        "kinds": list(layout.kinds),
        **{k: as_list(stats[k]) for k in ("act_mean", "act_std", "saturated", "dead")},
    }
