"""Window geometry shared by convolution and pooling: 'SAME' / 'VALID' / explicit padding,
output sizes, and the argument checks (int pairs, NHWC rank) every layer makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import jax

Padding = str | Sequence[tuple[int, int]]

PADDING_MODES = ("SAME", "VALID")


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """`value` as (height, width): an int is used for both; every entry must be an int >= 1."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be an int >= 1 or a pair of them, got {value!r}")
    return pair


def _check_nhwc(x: jax.Array, what: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{what} expects a 4-D NHWC input (N, H, W, C), got shape {x.shape}")


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """XLA's (and TensorFlow's) 'SAME' padding (before, after) of one spatial axis.

    The output has ceil(size / stride) positions; the dilated kernel spans
    e = (kernel - 1) * dilation + 1 inputs, so the padded input needs
    total = max((out - 1) * stride + e - size, 0) extra positions, split
    before = total // 2 and after = total - before (the odd one goes after: bottom / right).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: Padding,
    spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int] = (1, 1),
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) for `padding` 'SAME', 'VALID' or explicit pairs.

    `spatial` is (H, W) of the input, `window` the (kh, kw) of the kernel or pooling window.
    """
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(
                f"unknown padding {padding!r}; valid: 'SAME', 'VALID' or "
                "((top, bottom), (left, right)) pairs of ints >= 0"
            )
        if padding == "VALID":
            return (0, 0), (0, 0)
        return tuple(map(same_padding, spatial, window, strides, dilation))
    if not _is_pair_of(padding, lambda p: _is_pair_of(p, lambda v: isinstance(v, int) and v >= 0)):
        raise ValueError(
            f"explicit padding must be ((top, bottom), (left, right)) with ints >= 0, "
            f"got {padding!r}"
        )
    return tuple(tuple(p) for p in padding)


def _is_pair_of(value: object, check: Callable[[object], bool]) -> bool:
    return isinstance(value, Sequence) and len(value) == 2 and all(map(check, value))


def _output_size(size: int, pads: tuple[int, int], span: int, stride: int, what: str) -> int:
    """floor((size + pads - span) / stride) + 1, where span is the (dilated) window extent."""
    padded = size + sum(pads)
    if padded < span:
        raise ValueError(f"{what}: window spans {span} but the padded input has only {padded}")
    return (padded - span) // stride + 1
