"""Deep fully connected highway networks and their plain counterpart (Srivastava et al. 2015).

    flatten (N, H*W*C) -> Dense(width) -> act -> depth x layer -> Dense(num_classes)

with layer = `HighwayDense` (y = H(x) T(x) + x (1 - T(x)), gate bias `gate_bias`) in
`highway_mlp`, and layer = Dense(width) -> act in `plain_mlp_deep`, the same network without
gates (`highway=False`; `gate_bias` is then unused): the paper's comparison of plain and
highway networks of depth 10 to 100 (width 50 or 71 on MNIST). The first dense layer changes
the dimensionality, as the paper's first plain layer does.
Parameters: D*w + w (projection) + depth * 2*(w*w + w) (highway; w*w + w for plain) + w*K + K
for D inputs, width w and K classes.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax

from cnnjax.blocks.highway import HighwayDense
from cnnjax.layers import activation


class HighwayMLP(nn.Module):
    """A depth-`depth` stack of width-`width` highway (or plain) layers; any input shape.

    Sows intermediates 'layer{i}' (the projection is layer0, the i-th highway layer layer{i})
    and 'penultimate'.
    """

    num_classes: int
    width: int = 50
    depth: int = 10
    act: str = "relu"
    gate_bias: float = -2.0
    highway: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        act = activation(self.act)
        x = act(nn.Dense(self.width, name="proj")(x.reshape((x.shape[0], -1))))
        self.sow("intermediates", "layer0", x)
        for i in range(1, self.depth + 1):
            if self.highway:
                x = HighwayDense(act, self.gate_bias, name=f"highway{i}")(x)
            else:
                x = act(nn.Dense(self.width, name=f"plain{i}")(x))
            self.sow("intermediates", f"layer{i}", x)
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, name="head")(x)


PlainMLPDeep = functools.partial(HighwayMLP, highway=False)

MODELS = {"highway_mlp": HighwayMLP, "plain_mlp_deep": PlainMLPDeep}
