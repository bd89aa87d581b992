"""Looking inside a trained CNN: first-layer filters, feature maps, CAM and Grad-CAM heatmaps,
for any registered model without editing it (module outputs are reached through a Flax method
interceptor, `flax.linen.intercept_methods`).

Heatmaps for class c on a feature map F (H', W', K), the output of one module:
  Grad-CAM (Selvaraju et al. 2017):  alpha_k = mean_ij d y_c / d F_ijk,
                                     map = ReLU(sum_k alpha_k F_k);
  CAM (Zhou et al. 2016), for models whose logits are y = mean_ij(F_ij) @ W + b (global average
  pooling then one dense layer):     map = sum_k W_kc F_k.
For such a model d y_c / d F_ijk = W_kc / (H' W'), so Grad-CAM is ReLU(CAM) / (H' W') times a
constant: the two agree up to normalisation wherever CAM is positive. Both come back normalised
to [0, 1] per image (divided by their maximum; all zero stays zero) at the feature map's size;
`upsample` resizes them to the image.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp


@contextlib.contextmanager
def _at_module(path: tuple[str, ...], edit: Callable[[jax.Array], jax.Array]) -> Iterator[None]:
    """While active, the output of module `path`'s __call__ is replaced by edit(output)."""

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.module.path == path and context.method_name == "__call__":
            return edit(out)
        return out

    with nn.intercept_methods(interceptor):
        yield


def module_outputs(apply_fn: Callable, variables, images: jax.Array) -> list[tuple[str, tuple]]:
    """(module path, output shape) of every module call of an inference pass, in call order
    (an abstract trace: no FLOPs). Paths are '/'-joined module names."""
    calls = []

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and isinstance(out, jax.Array):
            calls.append(("/".join(context.module.path), tuple(out.shape)))
        return out

    def forward(v, x):
        with nn.intercept_methods(interceptor):
            return apply_fn(v, x, train=False)

    jax.eval_shape(forward, variables, images)
    return calls


def last_feature_map(apply_fn: Callable, variables, images: jax.Array) -> str:
    """The path of the last module whose output is a feature map (N, H', W', K) with H', W' > 1:
    the usual Grad-CAM layer."""
    maps = [p for p, s in module_outputs(apply_fn, variables, images) if len(s) == 4 and s[1] > 1]
    if not maps:
        raise ValueError("the model has no module with a spatial output (N, H, W, C), H, W > 1")
    return maps[-1]


def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("/")) if path else ()


def _normalise(maps: jax.Array) -> jax.Array:
    """Each (H', W') map divided by its maximum (zero maps stay zero)."""
    top = jnp.max(maps, axis=(1, 2), keepdims=True)
    return jnp.where(top > 0, maps / jnp.where(top > 0, top, 1.0), 0.0)


def features_and_gradients(
    apply_fn: Callable, variables, images: jax.Array, classes: jax.Array, layer: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(F, dF, logits): module `layer`'s output F (N, H', W', K), the gradient of each image's
    logit for its class in `classes` (N,) with respect to F, and the logits (N, num_classes)."""
    path = _split(layer)

    def logits_with(delta):
        captured = {}

        def edit(out):
            captured["F"] = out
            return out + delta

        with _at_module(path, edit):
            logits = apply_fn(variables, images, train=False)
        return logits, captured["F"]

    def chosen(delta):
        logits, features = logits_with(delta)
        picked = jnp.take_along_axis(logits, classes[:, None], axis=1)
        return jnp.sum(picked), (features, logits)

    shape = next(s for p, s in module_outputs(apply_fn, variables, images) if p == layer)
    grads, (features, logits) = jax.grad(chosen, has_aux=True)(jnp.zeros(shape, jnp.float32))
    return features, grads, logits


def grad_cam(
    apply_fn: Callable, variables, images: jax.Array, classes: jax.Array, layer: str
) -> jax.Array:
    """Grad-CAM maps (N, H', W') in [0, 1] of `classes` (N,) at module `layer`."""
    features, grads, _ = features_and_gradients(apply_fn, variables, images, classes, layer)
    alpha = jnp.mean(grads, axis=(1, 2))  # (N, K)
    return _normalise(jax.nn.relu(jnp.einsum("nijk,nk->nij", features, alpha)))


def cam(
    apply_fn: Callable,
    variables,
    images: jax.Array,
    classes: jax.Array,
    layer: str,
    head: str = "head",
    rtol: float = 1e-3,
) -> jax.Array:
    """CAM maps (N, H', W') in [0, 1] of `classes` (N,): F @ W[:, c] with F module `layer`'s
    output and W the kernel of the dense module `head`, clipped at 0 like Grad-CAM.

    Raises ValueError unless the logits equal mean_ij(F) @ W + b (checked on `images`)."""
    features, _, logits = features_and_gradients(apply_fn, variables, images, classes, layer)
    params = variables["params"]
    for part in _split(head):
        params = params[part]
    w, b = params["kernel"], params.get("bias", 0.0)
    if w.shape[0] != features.shape[-1]:
        error = float("inf")  # the head does not read this feature map's channels
    else:
        linear = jnp.mean(features, axis=(1, 2)) @ w + b
        error = float(jnp.max(jnp.abs(linear - logits)))
    if error > rtol * (1.0 + float(jnp.max(jnp.abs(logits)))):
        raise ValueError(
            f"CAM needs logits = global average of module {layer!r}'s output @ {head!r}'s "
            f"kernel + bias; this model's differ by up to {error:.3g}: use grad_cam"
        )
    maps = jnp.einsum("nijk,nk->nij", features, w[:, classes].T)
    return _normalise(jax.nn.relu(maps))


def upsample(maps: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Heatmaps (N, H', W') resized bilinearly to (N, H, W)."""
    return jax.image.resize(maps, (maps.shape[0],) + tuple(size), method="bilinear")


def first_conv_kernel(apply_fn: Callable, variables, images: jax.Array) -> jax.Array:
    """The kernel (kh, kw, C_in, C_out) of the first convolution in the forward pass."""
    for path, _ in module_outputs(apply_fn, variables, images):
        params = variables["params"]
        for part in _split(path):
            params = params.get(part, {}) if hasattr(params, "get") else {}
        kernel = params.get("kernel") if hasattr(params, "get") else None
        if kernel is not None and kernel.ndim == 4:
            return kernel
    raise ValueError("the model has no convolution kernel")
