"""'auto' on a CPU with oneDNN built: each convolution shape timed once, 'xla_cpu' against
'onednn', and the faster one kept (cuDNN's benchmark mode, for the CPU).

`fastest_cpu_impl` is called by conv2d while it is traced. The first time a signature (input
shape, kernel shape, strides, padding, dilation, groups) is seen on a machine it compiles both
candidates' forward plus input and kernel gradients (what a training step runs), times them in
ROUNDS interleaved rounds (this VM's speed changes within seconds, so a round times both) and
keeps 'onednn' only when the median over rounds of the per-round ratio xla_cpu / onednn time is
at least MIN_SPEEDUP, else 'xla_cpu' (pure JAX, forward mode too). The choice and its times go
to a JSON file, `cache_file()`, under a key naming the machine (CPU model, XLA's threads,
jaxlib, the oneDNN library build), so later processes reuse the choice instead of timing again:
a run and its resume, or two seeds, use the same convolutions. Delete the file (or its
machine's entry) to time again; pin an impl with conv_impl='xla_cpu' or 'onednn'.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np
from absl import logging

from cnnjax import provenance
from cnnjax.layers.cpu_conv import _cpu_conv
from cnnjax.layers.onednn import library
from cnnjax.layers.onednn.conv import onednn_conv

CANDIDATES = ("xla_cpu", "onednn")
MIN_SPEEDUP = 1.05  # onednn must beat xla_cpu by this factor (median per-round ratio)
ROUNDS = 7  # timed rounds; each times both candidates once
WINDOW_SECONDS = 0.02  # about this long each timed window (calls repeated to fill it)

_memo: dict[str, dict] = {}  # signature -> its entry, this process


def cache_file() -> Path:
    """library.cache_root() / conv_timing.json."""
    return library.cache_root() / "conv_timing.json"


def machine_key() -> str:
    """What a timing is valid for: CPU model, XLA's CPU threads, jaxlib, the library build."""
    import jaxlib

    cpu, threads = provenance.cpu_model(), library.xla_cpu_threads()
    return f"{cpu}|{threads} threads|jaxlib {jaxlib.__version__}|{library.build_key()}"


def signature(x_shape: tuple, kernel_shape: tuple, args: tuple) -> str:
    """'NxHxWxC kh x kw x C/G x O s.. p.. d.. g..': what a choice is made for (float32)."""
    strides, pads, dilation, groups = args
    dims = lambda v: "x".join(str(int(e)) for e in v)
    return (
        f"{dims(x_shape)} k{dims(kernel_shape)} s{dims(strides)} "
        f"p{dims([p for pair in pads for p in pair])} d{dims(dilation)} g{groups}"
    )


@contextlib.contextmanager
def _locked_cache() -> Iterator[dict]:
    """The cache file's contents under an exclusive lock; written back on exit."""
    path = cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, json.JSONDecodeError):
            data = {}  # a damaged file: time again
        yield data
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)


def _cached(key: str, sig: str) -> dict | None:
    path = cache_file()
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text()).get(key, {}).get(sig)
    except (OSError, json.JSONDecodeError):
        return None


def _training_pass(impl: str, args: tuple, out_size: tuple) -> Callable:
    """jit of (x, k, dy) -> (y, dx, dk) with impl's convolution."""
    conv = _cpu_conv if impl == "xla_cpu" else onednn_conv

    def run(x, kernel, dy):
        y, vjp = jax.vjp(lambda x, k: conv(x, k, args, out_size), x, kernel)
        return (y, *vjp(dy))

    return jax.jit(run)


def time_candidates(x_shape: tuple, kernel_shape: tuple, args: tuple, out_size: tuple) -> dict:
    """Times CANDIDATES' training pass on random float32 data of these shapes, interleaved.

    Returns {'impl': the choice, 'speedup': median over rounds of xla_cpu / onednn time,
    'ms': {candidate: median ms per call}, 'rounds': ROUNDS}."""
    rng = np.random.default_rng(0)
    y_shape = (x_shape[0], *out_size, kernel_shape[3])
    data = [rng.standard_normal(s).astype(np.float32) for s in (x_shape, kernel_shape, y_shape)]
    with jax.ensure_compile_time_eval():  # run now, also while an outer function is traced
        data = [jax.device_put(a) for a in data]
        fns = {impl: _training_pass(impl, args, out_size) for impl in CANDIDATES}
        single = {}
        for impl, fn in fns.items():
            jax.block_until_ready(fn(*data))  # compile and warm up
            start = time.perf_counter()
            jax.block_until_ready(fn(*data))
            single[impl] = time.perf_counter() - start
        calls = {i: max(1, math.ceil(WINDOW_SECONDS / max(t, 1e-6))) for i, t in single.items()}
        per_call: dict[str, list[float]] = {impl: [] for impl in CANDIDATES}
        for _ in range(ROUNDS):
            for impl, fn in fns.items():
                start = time.perf_counter()
                for _ in range(calls[impl]):
                    out = fn(*data)
                jax.block_until_ready(out)
                per_call[impl].append((time.perf_counter() - start) / calls[impl])
    speedup = statistics.median(a / b for a, b in zip(per_call["xla_cpu"], per_call["onednn"]))
    return {
        "impl": "onednn" if speedup >= MIN_SPEEDUP else "xla_cpu",
        "speedup": round(speedup, 4),
        "ms": {impl: round(1e3 * statistics.median(t), 4) for impl, t in per_call.items()},
        "rounds": ROUNDS,
    }


def fastest_cpu_impl(x: jax.Array, kernel: jax.Array, args: tuple, out_size: tuple) -> str:
    """'onednn' or 'xla_cpu' for this convolution (module doc): from this process's memo, the
    cache file, or a timing, which is then stored. 'xla_cpu' for dtypes other than float32."""
    if x.dtype != np.float32 or kernel.dtype != np.float32:
        return "xla_cpu"
    sig = signature(x.shape, kernel.shape, args)
    entry = _memo.get(sig)
    if entry is None:
        key = machine_key()
        entry = _cached(key, sig)
        if entry is None:
            timed = time_candidates(x.shape, kernel.shape, args, out_size)
            try:
                with _locked_cache() as data:  # another process may have timed it meanwhile
                    entry = data.setdefault(key, {}).setdefault(sig, timed)
            except OSError as e:  # not stored: this process still uses it
                logging.warning("conv timing not saved to %s: %s", cache_file(), e)
                entry = timed
        _memo[sig] = entry
    return entry["impl"]


def choices() -> dict[str, str]:
    """Signature -> impl of every convolution this process chose for (for a run's summary)."""
    return {sig: entry["impl"] for sig, entry in sorted(_memo.items())}
