"""'auto' on a CPU with oneDNN built: one timing per convolution shape, cached per machine,
reused by later processes, and the choice is what runs (conv_timing)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import layers
from cnnjax.layers import conv_timing, onednn

pytestmark = pytest.mark.skipif(
    not onednn.available(),
    reason="oneDNN convolutions not built (python -m cnnjax.layers.onednn build)",
)


@pytest.fixture
def timed(monkeypatch, tmp_path):
    """'auto' times again (CNNJAX_ONEDNN unset) into an empty cache file and memo; returns
    the list of signatures `time_candidates` is called for, which answers FAKE_CHOICE["impl"]."""
    monkeypatch.delenv("CNNJAX_ONEDNN", raising=False)
    monkeypatch.setattr(conv_timing, "cache_file", lambda: tmp_path / "conv_timing.json")
    monkeypatch.setattr(conv_timing, "_memo", {})
    calls = []

    def fake_timing(x_shape, kernel_shape, args, out_size):
        calls.append(conv_timing.signature(x_shape, kernel_shape, args))
        return {"impl": FAKE_CHOICE["impl"], "speedup": 1.0, "ms": {}, "rounds": 0}

    monkeypatch.setattr(conv_timing, "time_candidates", fake_timing)
    return calls


FAKE_CHOICE = {"impl": "onednn"}


def ffi_calls(fn, *args) -> int:
    return str(jax.jit(fn).lower(*args).as_text()).count("cnnjax_dnnl_conv")


def test_auto_is_timed_and_runs_the_choice(timed, monkeypatch):
    assert layers.resolve_conv_impl("auto") == layers.TIMED
    x, k = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 6))
    monkeypatch.setitem(FAKE_CHOICE, "impl", "onednn")
    assert ffi_calls(lambda x, k: layers.conv2d(x, k), x, k) == 1
    monkeypatch.setitem(FAKE_CHOICE, "impl", "xla_cpu")  # a new shape, chosen the other way
    assert ffi_calls(lambda x, k: layers.conv2d(x, k, strides=2), x, k) == 0
    assert len(timed) == 2
    assert sorted(conv_timing.choices().values()) == ["onednn", "xla_cpu"]


def test_a_shape_is_timed_once_and_reused_from_the_file_by_a_new_process(timed, monkeypatch):
    x, k = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 6))
    conv = jax.jit(lambda x, k: layers.conv2d(x, k))
    conv(x, k)
    jax.jit(lambda x, k: layers.conv2d(x, k) * 2)(x, k)  # traced again: the memo answers
    assert len(timed) == 1
    saved = json.loads(conv_timing.cache_file().read_text())
    (machine,) = saved
    assert machine == conv_timing.machine_key() and "threads|jaxlib" in machine
    assert list(saved[machine]) == timed
    monkeypatch.setattr(conv_timing, "_memo", {})  # as a new process: the file answers
    monkeypatch.setitem(FAKE_CHOICE, "impl", "xla_cpu")
    assert ffi_calls(lambda x, k: layers.conv2d(x, k), x, k) == 1  # the saved 'onednn'
    assert len(timed) == 1
    monkeypatch.setattr(conv_timing, "_memo", {})  # another machine: timed again
    monkeypatch.setattr(conv_timing, "machine_key", lambda: "another cpu")
    assert ffi_calls(lambda x, k: layers.conv2d(x, k), x, k) == 0
    assert len(timed) == 2 and set(json.loads(conv_timing.cache_file().read_text())) == {
        machine, "another cpu"}  # fmt: skip


def test_a_damaged_file_is_timed_again(timed):
    conv_timing.cache_file().write_text("{not json")
    layers.conv2d(jnp.ones((1, 6, 6, 2)), jnp.ones((3, 3, 2, 2)))
    assert len(timed) == 1
    assert json.loads(conv_timing.cache_file().read_text())  # rewritten whole


def test_other_dtypes_are_not_timed(timed):
    y = layers.conv2d(jnp.ones((1, 6, 6, 2), jnp.bfloat16), jnp.ones((3, 3, 2, 2), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and timed == []


def test_the_real_timing_returns_a_choice_with_its_figures(monkeypatch):
    """One real timing of a tiny shape: both candidates timed, the rule applied to them."""
    monkeypatch.delenv("CNNJAX_ONEDNN", raising=False)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    result = conv_timing.time_candidates((2, 6, 6, 3), (3, 3, 3, 4), args, (6, 6))
    assert set(result["ms"]) == {"xla_cpu", "onednn"} and min(result["ms"].values()) > 0
    expected = "onednn" if result["speedup"] >= conv_timing.MIN_SPEEDUP else "xla_cpu"
    assert result["impl"] == expected and result["rounds"] == conv_timing.ROUNDS
    ratio = result["ms"]["xla_cpu"] / result["ms"]["onednn"]
    assert 0.2 < result["speedup"] / ratio < 5  # a median of ratios near the ratio of medians


def test_timing_inside_a_traced_function_under_vmap(timed, monkeypatch):
    """The choice is made while an outer jit and vmap trace (per-member shapes)."""
    x, k = np.ones((3, 2, 6, 6, 2), np.float32), np.ones((3, 3, 3, 2, 2), np.float32)
    y = jax.jit(jax.vmap(lambda x, k: layers.conv2d(x, k)))(x, k)
    assert y.shape == (3, 2, 6, 6, 2) and timed == ["2x6x6x2 k3x3x2x2 s1x1 p1x1x1x1 d1x1 g1"]
    np.testing.assert_allclose(y, layers.conv2d(x[0], k[0], impl="xla")[None].repeat(3, 0))


def test_a_runs_summary_lists_the_choices_where_auto_is_timed(timed):
    from cnnjax.config import base_config
    from cnnjax.train import results

    config = base_config()
    config.model = "lenet5"  # conv_impl 'auto' by default
    layers.conv2d(jnp.ones((1, 6, 6, 2)), jnp.ones((3, 3, 2, 2)))
    assert results._conv_impl(config) == layers.TIMED
    assert results._conv_choices(config) == {
        "conv_choices": {"1x6x6x2 k3x3x2x2 s1x1 p1x1x1x1 d1x1 g1": "onednn"}
    }
    config.model_args.lenet5.conv_impl = "xla_cpu"  # pinned: nothing to list
    assert results._conv_choices(config) == {}


def test_an_unwritable_cache_keeps_the_choice_for_this_process(timed, monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setattr(conv_timing, "cache_file", lambda: blocker / "conv_timing.json")
    layers.conv2d(jnp.ones((1, 6, 6, 2)), jnp.ones((3, 3, 2, 2)))
    layers.conv2d(jnp.ones((1, 6, 6, 2)), jnp.ones((3, 3, 2, 2)))
    assert len(timed) == 1 and list(conv_timing.choices().values()) == ["onednn"]


def test_a_killed_run_resumes_with_the_same_choices_and_numbers(timed, tmp_path, make_config):
    """The choices a run's first process timed are read back from the file by the process that
    resumes it (no second timing, which could choose otherwise and change the numbers): the
    resumed run ends bit-identical to an uninterrupted one, oneDNN having run its steps."""
    import os
    import signal

    from cnnjax.layers.onednn import library
    from cnnjax.train import loop
    from cnnjax.train.results import log_epoch
    from cnnjax.train.signals import RunInterrupted

    config = make_config(
        model="airbench_net",  # conv_impl 'auto': timed
        model_args__airbench_net__widths=(8, 16),
        model_args__airbench_net__whiten_images=100,
        dataset__val_size=0,
    )
    calls = library.call_stats()["backward_weights"]["calls"]
    full = loop.run(config, str(tmp_path / "full"), progress=False)
    assert library.call_stats()["backward_weights"]["calls"] > calls  # oneDNN trained it
    assert set(full["conv_choices"].values()) == {"onednn"}
    signatures = list(timed)

    def log_then_stop(ctx, loop_record):
        log_epoch(ctx, loop_record)
        if loop_record["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "log_epoch", log_then_stop)
        patch.setattr(conv_timing, "_memo", {})  # each process starts from the file
        with pytest.raises(RunInterrupted):
            loop.run(config, str(tmp_path / "part"), progress=False)
    FAKE_CHOICE["impl"] = "xla_cpu"  # what a second timing would answer now
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(conv_timing, "_memo", {})
            resumed = loop.run(config, str(tmp_path / "part"), progress=False)
    finally:
        FAKE_CHOICE["impl"] = "onednn"
    assert timed == signatures  # not timed again
    assert resumed["conv_choices"] == full["conv_choices"]
    assert resumed["test_loss"] == full["test_loss"]
    assert resumed["final_train_loss"] == full["final_train_loss"]
