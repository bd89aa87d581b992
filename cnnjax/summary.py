"""A per-layer summary of a model: output shape, parameters and multiply-accumulates.

Built under `jax.eval_shape`, so no weights are allocated: shapes flow through `model.init`
while a Flax method interceptor records every leaf layer it calls. Multiply-accumulates per
example, for a layer with kernel K (K.size weights):

    convolution  H_out * W_out * (kh * kw * C_in / groups * C_out) = H_out * W_out * K.size
    dense        K.size times the number of positions it is applied at (1 for (N, C) inputs)
    transposed   H_in * W_in * K.size (every input pixel meets the whole kernel)

Normalisation, pooling and activations count no MACs; `xla_flops` gives XLA's own count of the
whole forward pass to check against: about 2 flops per MAC, plus the element-wise operations,
minus the taps that fall on 'SAME' zero padding (which the formula counts, as is customary), so
the two agree within a few percent except on tiny feature maps.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import layers


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One leaf layer: where it is, what it is, its output shape, parameters and MACs."""

    path: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


_CONVS = (nn.Conv, layers.Conv2D)
_TRANSPOSED = (nn.ConvTranspose, layers.ConvTranspose2D)
_DENSE = (nn.Dense,)
_NORMS = (nn.BatchNorm, nn.LayerNorm, nn.GroupNorm)
_LEAVES = _CONVS + _TRANSPOSED + _DENSE + _NORMS


def _macs(module: nn.Module, kernel_size: int, x: jax.Array, y: jax.Array) -> int:
    if isinstance(module, _TRANSPOSED):
        return kernel_size * math.prod(x.shape[1:-1])
    if isinstance(module, _CONVS + _DENSE):
        return kernel_size * math.prod(y.shape[1:-1])
    return 0


def summarize(
    model: nn.Module, input_shape: tuple[int, ...]
) -> tuple[list[LayerRow], dict[str, dict]]:
    """Rows for every leaf layer of `model` on one input of shape (H, W, C) (or (D,)), in call
    order, and the abstract variables ({'params': ShapeDtypeStructs, ...})."""
    rows: list[LayerRow] = []

    def record(next_fun, args, kwargs, context):
        y = next_fun(*args, **kwargs)
        module = context.module
        if context.method_name == "__call__" and isinstance(module, _LEAVES):
            params = module.variables.get("params", {})
            kernel = params.get("kernel")
            rows.append(
                LayerRow(
                    path="/".join(module.scope.path),
                    kind=type(module).__name__,
                    output_shape=tuple(y.shape[1:]),
                    params=sum(p.size for p in jax.tree.leaves(params)),
                    macs=0 if kernel is None else _macs(module, kernel.size, args[0], y),
                )
            )
        return y

    def init():
        with nn.intercept_methods(record):
            return model.init(jax.random.PRNGKey(0), jnp.zeros((1, *input_shape)), train=False)

    variables = jax.eval_shape(init)
    return rows, variables


def xla_flops(model: nn.Module, variables, input_shape: tuple[int, ...]) -> float:
    """XLA's cost analysis of the forward pass (inference mode) on one example, in flops."""
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    forward = jax.jit(lambda v, x: model.apply(v, x, train=False))
    cost = forward.lower(variables, x).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def format_rows(rows: list[LayerRow]) -> str:
    """A plain-text table of the rows with a totals line."""
    header = ("layer", "kind", "output shape", "params", "MACs")
    body = [
        (r.path, r.kind, "x".join(map(str, r.output_shape)), f"{r.params:,}", f"{r.macs:,}")
        for r in rows
    ]
    total = ("total", "", "", f"{sum(r.params for r in rows):,}", f"{sum(r.macs for r in rows):,}")
    widths = [max(len(row[i]) for row in [header, *body, total]) for i in range(5)]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda row: "  ".join(
        c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
    )
    return "\n".join([fmt(header), line, *map(fmt, body), line, fmt(total)])
