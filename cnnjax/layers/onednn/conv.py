"""conv2d's 'onednn' implementation, `onednn_conv`: oneDNN's convolution primitives called as
XLA FFI custom calls (`dnnl_conv.cc`), with a custom VJP whose input and kernel gradients are
oneDNN's backward-data and backward-weights primitives.

It computes what 'xla' computes for float32 on the CPU backend, groups included:

    y[n, i, j, o] = sum_{p, q, c < C_in/G} xp[n, i*sh + p*dh, j*sw + q*dw, g*C_in/G + c]
                                           * k[p, q, c, o]

(x (N, H, W, C_in) zero-padded to xp, kernel (kh, kw, C_in/G, C_out), o in group
g = o // (C_out/G)). Reverse mode (jax.grad, jax.vjp) and vmap (one call per batch member)
work; forward mode (jax.jvp) does not, as for any custom VJP: use 'xla_cpu' for it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.layers.onednn import library

FORWARD, BACKWARD_DATA, BACKWARD_WEIGHTS = library.TARGETS


def check_supported(x: jax.Array, kernel: jax.Array) -> None:
    """Raises ValueError unless x and kernel are float32 and JAX's default backend is the CPU,
    and OneDNNUnavailable unless the library loads (it is built first when missing)."""
    if x.dtype != jnp.float32 or kernel.dtype != jnp.float32:
        raise ValueError(
            f"conv2d impl='onednn' computes in float32 only, got input {x.dtype} and kernel "
            f"{kernel.dtype}; use impl='xla_cpu' for other dtypes"
        )
    if jax.default_backend() != "cpu":
        raise ValueError(
            f"conv2d impl='onednn' runs on the CPU backend only; JAX's default backend is "
            f"{jax.default_backend()!r} (use impl='auto' or 'xla')"
        )
    library.load(build_if_missing=True)


def _attributes(args: tuple) -> dict:
    strides, pads, dilation, groups = args
    as_array = lambda values: np.asarray(values, np.int64)
    return {
        "strides": as_array(strides),
        "padding_lo": as_array([lo for lo, _ in pads]),
        "padding_hi": as_array([hi for _, hi in pads]),
        "dilation": as_array(dilation),
        "groups": np.int64(groups),
    }


def _call(target: str, a: jax.Array, b: jax.Array, out_shape: tuple, args: tuple) -> jax.Array:
    out = jax.ShapeDtypeStruct(out_shape, jnp.float32)
    return jax.ffi.ffi_call(target, out, vmap_method="sequential")(a, b, **_attributes(args))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def onednn_conv(x: jax.Array, kernel: jax.Array, args: tuple, out_size: tuple) -> jax.Array:
    """The convolution of x (N, H, W, C_in) with kernel (kh, kw, C_in/G, C_out) by oneDNN:
    args = (strides, pads ((top, bottom), (left, right)), dilation, groups G),
    out_size = (Ho, Wo); returns (N, Ho, Wo, C_out). float32, CPU (`check_supported`)."""
    return _call(FORWARD, x, kernel, (x.shape[0], *out_size, kernel.shape[3]), args)


def _onednn_conv_fwd(x, kernel, args, out_size):
    return onednn_conv(x, kernel, args, out_size), (x, kernel)


def _onednn_conv_bwd(args, out_size, residuals, dy):
    """dx = backward_data(dy, kernel) (N, H, W, C_in); dk = backward_weights(x, dy)
    (kh, kw, C_in/G, C_out): the transposes of the linear maps x -> conv(x, k) and
    k -> conv(x, k). XLA drops dx where nothing uses it (a first layer)."""
    del out_size
    x, kernel = residuals
    dx = _call(BACKWARD_DATA, dy, kernel, x.shape, args)
    dkernel = _call(BACKWARD_WEIGHTS, x, dy, kernel.shape, args)
    return dx, dkernel


onednn_conv.defvjp(_onednn_conv_fwd, _onednn_conv_bwd)
