"""Element-wise activations by name, so that an ablation is a config switch:
`activation('relu')(x)`. Their outputs are visible to `cnnjax.layer_stats`."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from cnnjax import layer_stats


def scaled_tanh(x: jax.Array) -> jax.Array:
    """LeCun et al. (1998) squashing function f(x) = 1.7159 tanh(2x/3); f(+-1) = +-1."""
    return 1.7159 * jnp.tanh(2.0 * x / 3.0)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "scaled_tanh": scaled_tanh,
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,  # tanh approximation (JAX's default)
    "gelu_erf": lambda x: jax.nn.gelu(x, approximate=False),  # x Phi(x), PyTorch's default
    "swish": jax.nn.swish,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The element-wise activation called `name` (one of `ACTIVATIONS`).

    Its outputs are visible to `cnnjax.layer_stats` (per-layer statistics), which is why models
    take their nonlinearities from here; outside a measurement this is the plain function.
    """
    try:
        fn = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(sorted(ACTIVATIONS))}"
        ) from None

    def apply(x: jax.Array) -> jax.Array:
        y = fn(x)
        layer_stats.record_activation(name, y)
        return y

    apply.__name__ = apply.__qualname__ = name
    return apply
