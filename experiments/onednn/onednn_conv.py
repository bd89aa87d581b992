"""oneDNN convolutions called from JAX through XLA's FFI (`dnnl_conv.cc`, built by build.sh).

`onednn_conv2d(x, kernel, strides, padding, dilation)` computes what
`cnnjax.layers.conv.conv2d(..., impl='xla')` computes for groups = 1 and float32,

    y[n, i, j, o] = sum_{p, q, c} xp[n, i*sh + p*dh, j*sw + q*dw, c] * kernel[p, q, c, o]

(x (N, H, W, C_in) zero-padded to xp, kernel (kh, kw, C_in, C_out), y (N, Ho, Wo, C_out)), with
a custom VJP whose input gradient and kernel gradient are oneDNN's backward-data and
backward-weights primitives. It runs on the CPU backend only and is not vmappable.

`load()` loads the shared library, registers its three handlers with XLA and sets oneDNN's
OpenMP team size to XLA's CPU thread count; it raises `OneDNNUnavailable` when the library is
not built or libdnnl cannot be loaded.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.layers.conv import conv_geometry
from cnnjax.layers.padding import Padding

LIBRARY = Path(__file__).with_name("libdnnl_conv.so")
FORWARD, BACKWARD_DATA, BACKWARD_WEIGHTS = (
    "cnnjax_dnnl_conv_forward",
    "cnnjax_dnnl_conv_backward_data",
    "cnnjax_dnnl_conv_backward_weights",
)
_SYMBOLS = {
    FORWARD: "DnnlConvForward",
    BACKWARD_DATA: "DnnlConvBackwardData",
    BACKWARD_WEIGHTS: "DnnlConvBackwardWeights",
}


class OneDNNUnavailable(ImportError):
    """The oneDNN convolution library is not built, or libdnnl cannot be loaded."""


class _DnnlVersion(ctypes.Structure):
    _fields_ = [
        ("major", ctypes.c_int),
        ("minor", ctypes.c_int),
        ("patch", ctypes.c_int),
        ("hash", ctypes.c_char_p),
        ("cpu_runtime", ctypes.c_uint),
        ("gpu_runtime", ctypes.c_uint),
    ]


def xla_cpu_threads() -> int:
    """The threads XLA's CPU backend computes with: one per core this process may run on."""
    return len(os.sched_getaffinity(0))


@functools.cache
def load() -> ctypes.CDLL:
    """Loads LIBRARY once, registers FORWARD, BACKWARD_DATA and BACKWARD_WEIGHTS as CPU
    FFI targets and sets oneDNN's OpenMP team size to `xla_cpu_threads()`."""
    try:
        lib = ctypes.CDLL(os.fspath(LIBRARY))
    except OSError as e:
        raise OneDNNUnavailable(
            f"cannot load {LIBRARY} ({e}); build it with experiments/onednn/build.sh"
        ) from e
    for target, symbol in _SYMBOLS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), "cpu")
    lib.DnnlConvSetNumThreads.argtypes = [ctypes.c_int]
    lib.DnnlConvSetNumThreads(xla_cpu_threads())
    return lib


def available() -> bool:
    """Whether `load()` succeeds."""
    try:
        load()
    except OneDNNUnavailable:
        return False
    return True


def dnnl_version() -> str:
    """oneDNN's version as 'major.minor.patch (git hash)', from the loaded libdnnl."""
    version_fn = load().dnnl_version
    version_fn.restype = ctypes.POINTER(_DnnlVersion)
    v = version_fn().contents
    return f"{v.major}.{v.minor}.{v.patch} ({(v.hash or b'').decode()})"


def kernel_tag() -> str:
    """The kernel layout the library's convolutions ask oneDNN for: 'any' (oneDNN's choice,
    reordered from and to HWIO) or 'hwio' (`build.sh --plain-kernels`)."""
    tag_fn = load().DnnlConvKernelTag
    tag_fn.restype = ctypes.c_char_p
    return tag_fn().decode()


def _attributes(args: tuple) -> dict[str, np.ndarray]:
    strides, pads, dilation, _ = args
    as_array = lambda values: np.asarray(values, np.int64)
    return {
        "strides": as_array(strides),
        "padding_lo": as_array([lo for lo, _ in pads]),
        "padding_hi": as_array([hi for _, hi in pads]),
        "dilation": as_array(dilation),
    }


def _call(target: str, a: jax.Array, b: jax.Array, out_shape: tuple, args: tuple) -> jax.Array:
    out = jax.ShapeDtypeStruct(out_shape, jnp.float32)
    return jax.ffi.ffi_call(target, out)(a, b, **_attributes(args))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def onednn_conv(x: jax.Array, kernel: jax.Array, args: tuple, out_size: tuple) -> jax.Array:
    """The convolution of x (N, H, W, C_in) with kernel (kh, kw, C_in, C_out) by oneDNN, with
    `cnnjax.layers.cpu_conv._cpu_conv`'s signature: args = (strides, pads, dilation, groups)
    with groups = 1, pads ((top, bottom), (left, right)), out_size = (Ho, Wo). float32 only."""
    _check(x, kernel, args)
    return _call(FORWARD, x, kernel, (x.shape[0], *out_size, kernel.shape[3]), args)


def _check(x: jax.Array, kernel: jax.Array, args: tuple) -> None:
    if args[3] != 1:
        raise ValueError(f"onednn_conv supports groups = 1 only, got groups={args[3]}")
    if x.dtype != jnp.float32 or kernel.dtype != jnp.float32:
        raise ValueError(f"onednn_conv supports float32 only, got {x.dtype} and {kernel.dtype}")
    load()


def _onednn_conv_fwd(x, kernel, args, out_size):
    return onednn_conv(x, kernel, args, out_size), (x, kernel)


def _onednn_conv_bwd(args, out_size, residuals, dy):
    """dx = backward_data(dy, kernel) (N, H, W, C_in); dk = backward_weights(x, dy) (kh, kw,
    C_in, C_out): the transposes of the linear maps x -> conv(x, k) and k -> conv(x, k)."""
    del out_size
    x, kernel = residuals
    dx = _call(BACKWARD_DATA, dy, kernel, x.shape, args)
    dkernel = _call(BACKWARD_WEIGHTS, x, dy, kernel.shape, args)
    return dx, dkernel


onednn_conv.defvjp(_onednn_conv_fwd, _onednn_conv_bwd)


def onednn_conv2d(
    x: jax.Array,
    kernel: jax.Array,
    strides: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    dilation: int | Sequence[int] = 1,
) -> jax.Array:
    """`cnnjax.layers.conv.conv2d(x, kernel, strides=..., padding=..., dilation=...)` for
    groups = 1 and float32, by oneDNN: x (N, H, W, C_in), kernel (kh, kw, C_in, C_out) ->
    (N, Ho, Wo, C_out), padding 'SAME', 'VALID' or ((top, bottom), (left, right))."""
    strides, pads, dilation, out_size = conv_geometry(x, kernel, strides, padding, dilation)
    return onednn_conv(x, kernel, (strides, pads, dilation, 1), out_size)
