"""conv2d / Conv2D: every implementation against a NumPy loop, and what convolution promises."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layers

IMPLS = layers.available_conv_impls()  # 'onednn' where its library is built
TOL = dict(rtol=1e-5, atol=1e-5)
# One compiled program per call signature is cheaper than op-by-op dispatch of the im2col path.
conv2d = jax.jit(
    layers.conv2d, static_argnames=("strides", "padding", "dilation", "groups", "impl")
)


def reference_conv(x, kernel, strides, pads, dilation, groups):
    """y[n, i, j, o] = sum_{p, q, c} xp[n, i*sh + p*dh, j*sw + q*dw, c] k[p, q, c, o]
    over the input channels c of o's group."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    kh, kw, cg, c_out = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    ho, wo = (xp.shape[1] - eh) // sh + 1, (xp.shape[2] - ew) // sw + 1
    og = c_out // groups
    y = np.zeros((x.shape[0], ho, wo, c_out))
    for i in range(ho):
        for j in range(wo):
            for o in range(c_out):
                g = o // og
                patch = xp[
                    :, i * sh : i * sh + eh : dh, j * sw : j * sw + ew : dw, g * cg : (g + 1) * cg
                ]
                y[:, i, j, o] = np.einsum("npqc,pqc->n", patch, kernel[..., o])
    return y


def random(shape, seed):
    """Standard normal float32 noise from NumPy (cheaper than compiling jax.random per shape)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_same_padding_matches_xla():
    for size in range(1, 9):
        for kernel in (1, 2, 3, 4):
            for stride in (1, 2, 3):
                for dilation in (1, 2):
                    expected = jax.lax.padtype_to_pads(
                        (size,), ((kernel - 1) * dilation + 1,), (stride,), "SAME"
                    )[0]
                    assert layers.same_padding(size, kernel, stride, dilation) == tuple(expected)


# Every pair of (padding, stride, dilation, groups) values occurs in some case (a pairwise
# covering of the 36 combinations, 9 cases), on a (2, 7, 6, 4) input with a 3x2 kernel and
# 8 filters; groups 4 is depthwise (C_in = 4) with depth multiplier 2.
EXPLICIT = ((2, 0), (1, 1))
CASES = [
    ("SAME", 1, 1, 1),
    ("SAME", 2, 2, 2),
    ("SAME", 1, 2, 4),
    ("VALID", 2, 1, 1),
    ("VALID", 1, 2, 2),
    ("VALID", 2, 2, 4),
    (EXPLICIT, 2, 2, 1),
    (EXPLICIT, 1, 1, 2),
    (EXPLICIT, 2, 1, 4),
]


@pytest.mark.parametrize("padding, stride, dilation, groups", CASES)
def test_every_impl_matches_numpy_loop_in_value_and_gradient(padding, stride, dilation, groups):
    x, kernel = random((2, 7, 6, 4), 0), random((3, 2, 4 // groups, 8), 1)
    spans = (2 * dilation + 1, dilation + 1)
    if padding == "SAME":
        pads = jax.lax.padtype_to_pads((7, 6), spans, (stride, stride), "SAME")
    else:
        pads = ((0, 0), (0, 0)) if padding == "VALID" else padding
    expected = reference_conv(x, kernel, (stride,) * 2, pads, (dilation,) * 2, groups)
    cotangent = random(expected.shape, 2)

    @jax.jit
    def outputs_and_gradients(x, kernel):
        results = []
        for impl in IMPLS:

            def loss(x, kernel):
                y = layers.conv2d(
                    x,
                    kernel,
                    strides=stride,
                    padding=padding,
                    dilation=dilation,
                    groups=groups,
                    impl=impl,
                )
                return jnp.sum(y * cotangent), y

            results.append(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x, kernel))
        return results

    results = dict(zip(IMPLS, outputs_and_gradients(x, kernel)))
    (_, y_xla), grads_xla = results["xla"]
    for impl, ((_, y), grads) in results.items():
        np.testing.assert_allclose(y, expected, **TOL, err_msg=impl)
        for a, b in zip(grads, grads_xla):
            np.testing.assert_allclose(a, b, **TOL, err_msg=impl)


@pytest.mark.parametrize("impl", IMPLS)
def test_matches_scipy_correlate2d_per_channel_pair(impl):
    signal = pytest.importorskip("scipy.signal")
    x, kernel = random((1, 6, 5, 2), 3), random((3, 3, 2, 3), 4)
    y = conv2d(x, kernel, padding="VALID", impl=impl)
    for o in range(3):
        expected = sum(
            signal.correlate2d(x[0, :, :, c], kernel[:, :, c, o], mode="valid") for c in range(2)
        )
        np.testing.assert_allclose(y[0, :, :, o], expected, **TOL)


@pytest.mark.parametrize("impl", IMPLS)
def test_textbook_cross_correlation(impl):
    x = jnp.arange(9.0).reshape(1, 3, 3, 1)
    kernel = jnp.arange(4.0).reshape(2, 2, 1, 1)
    y = conv2d(x, kernel, padding="VALID", impl=impl)
    np.testing.assert_array_equal(y[0, :, :, 0], [[19.0, 25.0], [37.0, 43.0]])


def count_params(module, shape):
    variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), jnp.zeros(shape)))
    return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))


def test_weight_count_is_k_k_cin_cout():
    assert count_params(layers.Conv2D(4, (3, 3), use_bias=False), (1, 5, 5, 3)) == 108
    assert count_params(layers.Conv2D(4, (3, 3)), (1, 5, 5, 3)) == 108 + 4
    grouped = layers.Conv2D(4, (3, 3), feature_group_count=2, use_bias=False)
    assert count_params(grouped, (1, 5, 5, 6)) == 3 * 3 * 3 * 4


@pytest.mark.parametrize("impl", IMPLS)
def test_two_stacked_3x3_convs_see_a_5x5_window_with_18_of_25_weights(impl):
    k1, k2 = 1.5 + np.abs(random((2, 3, 3, 1, 1), 5))  # positive: no weight cancels another

    def centre(x):
        y = conv2d(conv2d(x, k1, padding="VALID", impl=impl), k2, padding="VALID", impl=impl)
        return y[0, 2, 2, 0]  # input 9x9 -> 7x7 -> 5x5; output (2, 2) sits over input (4, 4)

    grad = jax.grad(centre)(jnp.ones((1, 9, 9, 1)))[0, :, :, 0]
    window = np.zeros((9, 9), bool)
    window[2:7, 2:7] = True
    np.testing.assert_array_equal(np.asarray(grad) != 0, window)
    assert k1.size + k2.size == 18 and window.sum() == 25


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_translation_equivariance(impl, padding):
    x, kernel = random((1, 10, 9, 2), 7), random((3, 3, 2, 3), 8)
    dy, dx = 2, 1
    shifted = jnp.pad(x, ((0, 0), (dy, 0), (dx, 0), (0, 0)))[:, :10, :9]  # x'[u] = x[u - d]
    y = conv2d(x, kernel, padding=padding, impl=impl)
    y_shifted = conv2d(shifted, kernel, padding=padding, impl=impl)
    m = 1  # away from the borders, where zero padding and the cropped rows differ
    np.testing.assert_allclose(
        y_shifted[:, dy + m : -m, dx + m : -m], y[:, m : -dy - m, m : -dx - m], **TOL
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_same_stride_1_keeps_height_and_width(impl):
    def shape(x_shape, kernel_shape, **kwargs):
        x, kernel = jnp.zeros(x_shape), jnp.zeros(kernel_shape)
        return jax.eval_shape(lambda: layers.conv2d(x, kernel, impl=impl, **kwargs)).shape

    for h, w, k in ((5, 4, (3, 3)), (6, 7, (2, 4)), (3, 3, (5, 5))):
        assert shape((1, h, w, 2), k + (2, 3), padding="SAME") == (1, h, w, 3)
    assert shape((1, 7, 8, 2), (3, 3, 2, 3), strides=2) == (1, 4, 4, 3)  # ceil(H / stride)
    assert shape((1, 7, 8, 2), (3, 3, 2, 3), padding="VALID", dilation=2) == (1, 3, 4, 3)


@pytest.mark.parametrize("impl", IMPLS)
def test_grouped_conv_is_separate_convs_on_channel_slices(impl):
    x, kernel = random((2, 5, 6, 6), 9), random((3, 3, 2, 6), 10)
    y = conv2d(x, kernel, groups=3, impl=impl)
    parts = [
        conv2d(x[..., 2 * g : 2 * g + 2], kernel[..., 2 * g : 2 * g + 2], impl=impl)
        for g in range(3)
    ]
    np.testing.assert_allclose(y, jnp.concatenate(parts, axis=-1), **TOL)


def test_conv2d_module_is_a_drop_in_for_flax_conv():
    x = random((2, 7, 7, 4), 11)
    theirs = nn.Conv(6, (3, 3), strides=2, feature_group_count=2)
    ours = layers.Conv2D(6, (3, 3), strides=2, feature_group_count=2)
    params = ours.init(jax.random.PRNGKey(12), x)
    flax_params = theirs.init(jax.random.PRNGKey(12), x)
    jax.tree.map(np.testing.assert_array_equal, params, flax_params)  # same names and values
    params = jax.tree.map(lambda p: p + 0.1, params)  # a nonzero bias too
    expected = theirs.apply(params, x)
    for impl in IMPLS:
        np.testing.assert_allclose(ours.clone(impl=impl).apply(params, x), expected, **TOL)


def test_conv2d_module_dilation_and_explicit_padding():
    x, kernel = random((1, 8, 8, 2), 13), random((3, 3, 2, 3), 14)
    module = layers.Conv2D(3, (3, 3), padding=((1, 0), (2, 2)), kernel_dilation=2, use_bias=False)
    expected = conv2d(x, kernel, padding=((1, 0), (2, 2)), dilation=2)
    np.testing.assert_allclose(module.apply({"params": {"kernel": kernel}}, x), expected, **TOL)


@pytest.mark.parametrize(
    "x_shape, kernel_shape, kwargs, message",
    [
        ((5, 5, 2), (3, 3, 2, 4), {}, r"4-D NHWC input .*got shape \(5, 5, 2\)"),
        (
            (1, 5, 5, 3),
            (3, 3, 1, 4),
            dict(groups=2),
            r"groups=2 .*dividing the input channels \(3\)",
        ),
        ((1, 5, 5, 4), (3, 3, 2, 3), dict(groups=2), r"groups=2 .*output channels \(3\)"),
        ((1, 5, 5, 4), (3, 3, 4, 4), dict(groups=2), r"C_in/groups = 4/2 = 2"),
        (
            (1, 5, 5, 2),
            (3, 3, 2, 4),
            dict(impl="fft"),
            r"'fft'; valid: auto, xla, xla_cpu, im2col, onednn",
        ),
        ((1, 5, 5, 2), (3, 3, 2, 4), dict(padding="same"), r"'same'; valid: 'SAME', 'VALID'"),
        ((1, 5, 5, 2), (3, 3, 2, 4), dict(padding=((1, -1), (0, 0))), r"ints >= 0, got"),
        ((1, 5, 5, 2), (3, 3, 2, 4), dict(strides=0), r"strides must be .*got 0"),
        ((1, 2, 5, 2), (3, 3, 2, 4), dict(padding="VALID"), r"window spans 3 .* only 2"),
    ],
)
@pytest.mark.parametrize("impl", IMPLS)
def test_bad_input_names_the_problem(x_shape, kernel_shape, kwargs, message, impl):
    kwargs = {"impl": impl, **kwargs}
    with pytest.raises(ValueError, match=message):
        layers.conv2d(jnp.zeros(x_shape), jnp.zeros(kernel_shape), **kwargs)


def test_conv2d_module_bad_input():
    with pytest.raises(ValueError, match=r"Conv2D expects a 4-D NHWC input"):
        layers.Conv2D(4, (3, 3)).init(jax.random.PRNGKey(0), jnp.zeros((5, 5, 2)))
    with pytest.raises(ValueError, match=r"feature_group_count=2 .*input channels \(3\)"):
        layers.Conv2D(4, (3, 3), feature_group_count=2).init(
            jax.random.PRNGKey(0), jnp.zeros((1, 5, 5, 3))
        )
    with pytest.raises(ValueError, match=r"kernel_size must be"):
        layers.Conv2D(4, (3, 3, 3)).init(jax.random.PRNGKey(0), jnp.zeros((1, 5, 5, 3)))


def test_auto_resolves_to_the_backend_choice(monkeypatch):
    monkeypatch.setitem(layers.AUTO_CONV_IMPL, jax.default_backend(), "im2col")
    assert layers.resolve_conv_impl("auto") == "im2col"
    monkeypatch.setitem(layers.AUTO_CONV_IMPL, jax.default_backend(), "xla")
    assert layers.resolve_conv_impl("auto") == "xla"
    assert layers.resolve_conv_impl("im2col") == "im2col"


@pytest.mark.parametrize("c_in", [3, 8])  # its tap-sum forward (<= 4 channels) and XLA's
def test_cpu_conv_keeps_forward_mode_and_second_order_derivatives(c_in):
    """Its custom rule is a JVP, so jax.jvp and Hessian-vector products work and equal 'xla'."""
    x, kernel = random((2, 6, 5, c_in), 3), random((3, 3, c_in, 4), 4)
    dx, dkernel = random(x.shape, 5), random(kernel.shape, 6)

    def loss(x, kernel, impl):
        return jnp.sum(jnp.tanh(layers.conv2d(x, kernel, strides=2, impl=impl)) ** 2)

    for impl in ("xla", "xla_cpu"):
        tangent = jax.jvp(lambda x, k: loss(x, k, impl), (x, kernel), (dx, dkernel))[1]
        hvp = jax.jvp(jax.grad(lambda k: loss(x, k, impl)), (kernel,), (dkernel,))[1]
        if impl == "xla":
            expected = tangent, hvp
        else:
            np.testing.assert_allclose(tangent, expected[0], rtol=1e-4)
            np.testing.assert_allclose(hvp, expected[1], rtol=1e-4, atol=1e-6)
