"""The layer library: convolutions, pooling, local response normalisation and activations.

Everything works on NHWC images, (N, H, W, C), with HWIO kernels, (kh, kw, C_in, C_out), like
Flax and XLA. Activations are chosen by name so that an ablation is a config switch:
`activation('relu')(x)`. Import the names from here (`from cnnjax import layers;
layers.Conv2D`); one file per job:

    activations.py   `activation(name)`, ACTIVATIONS, scaled_tanh (outputs seen by layer_stats)
    initializers.py  `initializer(name)`, INITIALIZERS
    norm.py          `batch_norm`, the `norm` factory of blocks and models
    lrn.py           `local_response_norm` (AlexNet)
    padding.py       'SAME' / 'VALID' / explicit padding, output sizes, argument checks
    conv.py          `conv2d` and its impl choice (`resolve_conv_impl`), `Conv2D`, `Conv1x1`
    xla_conv.py      impl 'xla': lax.conv_general_dilated
    cpu_conv.py      impl 'xla_cpu': `_cpu_conv`, 'xla' tuned for XLA's CPU backend (custom JVP)
    im2col.py        impl 'im2col': patch matrix times kernel, one GEMM
    onednn/          impl 'onednn': oneDNN's CPU convolutions through XLA's FFI (optional build)
    conv_timing.py   'auto' on a CPU with oneDNN: the faster of 'xla_cpu' and 'onednn' per shape
    separable.py     `SeparableConv2D` (depthwise, then 1x1)
    transposed.py    `conv_transpose2d`, `ConvTranspose2D` (the adjoint of conv2d)
    pooling.py       `max_pool`, `avg_pool`, `global_avg_pool`
"""

from cnnjax.layers.activations import ACTIVATIONS, activation, scaled_tanh
from cnnjax.layers.conv import (
    AUTO_CONV_IMPL,
    CONV_IMPLS,
    TIMED,
    Conv1x1,
    Conv2D,
    available_conv_impls,
    conv2d,
    resolve_conv_impl,
)
from cnnjax.layers.cpu_conv import TAP_SUM_MAX_CHANNELS
from cnnjax.layers.initializers import INITIALIZERS, initializer
from cnnjax.layers.lrn import local_response_norm
from cnnjax.layers.norm import batch_norm
from cnnjax.layers.padding import PADDING_MODES, Padding, resolve_padding, same_padding
from cnnjax.layers.pooling import avg_pool, global_avg_pool, max_pool
from cnnjax.layers.separable import SeparableConv2D
from cnnjax.layers.transposed import ConvTranspose2D, conv_transpose2d

__all__ = [
    "ACTIVATIONS",
    "AUTO_CONV_IMPL",
    "CONV_IMPLS",
    "INITIALIZERS",
    "PADDING_MODES",
    "TAP_SUM_MAX_CHANNELS",
    "TIMED",
    "Conv1x1",
    "Conv2D",
    "ConvTranspose2D",
    "Padding",
    "SeparableConv2D",
    "activation",
    "available_conv_impls",
    "avg_pool",
    "batch_norm",
    "conv2d",
    "conv_transpose2d",
    "global_avg_pool",
    "initializer",
    "local_response_norm",
    "max_pool",
    "resolve_conv_impl",
    "resolve_padding",
    "same_padding",
    "scaled_tanh",
]
