"""Small building blocks shared by the models.

Activations are chosen by name so that an ablation is a config switch:
`activation('relu')(x)`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


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
    "gelu": jax.nn.gelu,
    "swish": jax.nn.swish,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The element-wise activation called `name` (one of `ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(sorted(ACTIVATIONS))}"
        ) from None
