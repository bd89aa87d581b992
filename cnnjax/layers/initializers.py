"""Kernel initialisers by name: `initializer('he_normal')`."""

from __future__ import annotations

import flax.linen as nn

# Kernel initialisers by name, with fan_in = kh * kw * C_in (fan_out = kh * kw * C_out):
INITIALIZERS: dict[str, nn.initializers.Initializer] = {
    "lecun_normal": nn.initializers.lecun_normal(),  # Var = 1 / fan_in (Flax's default)
    "glorot_uniform": nn.initializers.glorot_uniform(),  # Var = 2 / (fan_in + fan_out)
    "glorot_normal": nn.initializers.glorot_normal(),
    "he_normal": nn.initializers.he_normal(),  # Var = 2 / fan_in, for ReLU (He et al. 2015)
    "he_uniform": nn.initializers.he_uniform(),
    "small_normal": nn.initializers.normal(0.01),  # N(0, 0.01^2) whatever the fan-in
}


def initializer(name: str) -> nn.initializers.Initializer:
    """The kernel initialiser called `name` (one of `INITIALIZERS`)."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown initializer {name!r}; valid names: {', '.join(sorted(INITIALIZERS))}"
        ) from None
