"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) in torchvision's single-tower form.

    conv 64 11x11/4 (padding 2) -> act -> (LRN) -> max pool 3x3/2          224 -> 55 -> 27
    conv 192 5x5 (padding 2) -> act -> (LRN) -> max pool 3x3/2             27 -> 27 -> 13
    conv 384, 256, 256 3x3 (padding 1), each -> act; max pool 3x3/2        13 -> 13 -> 6
    adaptive average pool to 6x6 -> flatten (9,216) -> Dropout -> Dense(4096) -> act ->
    Dropout -> Dense(4096) -> act -> Dense(num_classes)

61,100,840 parameters for 1000 classes, as torchvision's alexnet: convs 23,296 + 307,392 +
663,936 + 884,992 + 590,080, dense 37,752,832 + 16,781,312 + 4,097,000.

Differences from the paper: one tower instead of two GPUs' halves with partial connections, 64
and 192 instead of 96 and 256 maps in the first two convs (torchvision's widths, from Krizhevsky
2014), and local response normalisation only with `lrn=True` (after the first two convs' ReLU,
as in the paper, with its k=2, n=5, alpha=1e-4, beta=0.75; it has no parameters).

Input sizes: the pools need H, W >= 63 (which leaves 1x1 maps after the last pool). The
adaptive average pool (PyTorch's adaptive_avg_pool2d) makes the classifier 9,216 wide for every
size: it is the identity at 224 (6x6 already), averages larger maps over bins
[floor(i*S/6), ceil((i+1)*S/6)), and repeats the values of smaller maps (a 1x1 map is copied
36 times). Sows 'stage0' to 'stage2' after the three pools and 'penultimate' (the second dense
layer's activations).
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.layers import Conv2D, activation, local_response_norm, max_pool


def adaptive_avg_pool(x: jax.Array, size: int) -> jax.Array:
    """PyTorch's adaptive_avg_pool2d: (N, H, W, C) -> (N, size, size, C).

    Output i of an axis of length S is the mean of inputs floor(i*S/size) .. ceil((i+1)*S/size)
    - 1; a bin is a rectangle, so its mean is one averaging matrix per axis, A_h x A_w^T.
    """

    def averaging(length: int) -> np.ndarray:
        a = np.zeros((size, length), np.float32)
        for i in range(size):
            lo, hi = (i * length) // size, math.ceil((i + 1) * length / size)
            a[i, lo:hi] = 1.0 / (hi - lo)
        return a

    return jnp.einsum("hH,wW,nHWc->nhwc", averaging(x.shape[1]), averaging(x.shape[2]), x)


class AlexNet(nn.Module):
    """AlexNet; input (N, H, W, C) with H, W >= 63 (224 by design) -> (N, num_classes)."""

    num_classes: int
    lrn: bool = False
    hidden: int = 4096
    dropout_rate: float = 0.5
    act: str = "relu"
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        act = activation(self.act)
        conv = functools.partial(Conv2D, impl=self.conv_impl)
        x = act(conv(64, (11, 11), strides=4, padding=((2, 2), (2, 2)), name="conv1")(x))
        x = local_response_norm(x) if self.lrn else x
        x = max_pool(x, 3, 2)
        self.sow("intermediates", "stage0", x)
        x = act(conv(192, (5, 5), padding=((2, 2), (2, 2)), name="conv2")(x))
        x = local_response_norm(x) if self.lrn else x
        x = max_pool(x, 3, 2)
        self.sow("intermediates", "stage1", x)
        for k, width in enumerate((384, 256, 256), start=3):
            x = act(conv(width, (3, 3), padding=((1, 1), (1, 1)), name=f"conv{k}")(x))
        x = max_pool(x, 3, 2)
        self.sow("intermediates", "stage2", x)
        x = adaptive_avg_pool(x, 6).reshape((x.shape[0], -1))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = act(nn.Dense(self.hidden, name="dense0")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = act(nn.Dense(self.hidden, name="dense1")(x))
        self.sow("intermediates", "penultimate", x)
        return nn.Dense(self.num_classes, name="head")(x)


MODELS = {"alexnet": AlexNet}
