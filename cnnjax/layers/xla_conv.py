"""conv2d's 'xla' implementation: lax.conv_general_dilated on NHWC inputs and HWIO kernels."""

from __future__ import annotations

import jax
from jax import lax

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _xla_conv(x: jax.Array, kernel: jax.Array, args: tuple) -> jax.Array:
    """lax.conv_general_dilated with args = (strides, pads, dilation, groups), NHWC / HWIO."""
    strides, pads, dilation, groups = args
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=pads,
        rhs_dilation=dilation,
        dimension_numbers=_DIMENSION_NUMBERS,
        feature_group_count=groups,
    )
