r"""conv2d's 'onednn' convolutions against its 'xla_cpu' ones, per layer and per training step,
in one process.

    python -m cnnjax.layers.onednn build && python -m experiments.onednn.bench
    python -m experiments.onednn.bench --parts=layers --windows=9   # per-layer timing only

Part `layers`: each convolution shape of LAYERS (ResNet-20's and LeNet-5's at batch 128), each
of forward y = conv(x, k), input gradient dx and kernel gradient dk, as one jitted function per
contender: `conv2d(..., impl='xla_cpu')` (and its VJP) against `conv2d(..., impl='onednn')`.
Part `steps`: the runner's training step (`bench_jax.prepare_training`) of ResNet-20 and LeNet-5
at batch 128 with conv_impl 'xla_cpu', 'onednn' (every convolution by oneDNN), 'auto' (each
shape's faster one, `cnnjax.layers.conv_timing`; its choices go into the JSON) and
'onednn_after_first': oneDNN for all but the first layer, whose C_in <= TAP_SUM_MAX_CHANNELS
makes `xla_cpu` use its tap sums, traced while `cnnjax.layers.conv._cpu_conv` is replaced (in
this process only) by `onednn_conv` for convolutions with more input channels.

Contenders take turns, one timed window each per round (`bench_timing.interleaved_rates`: this
VM's speed switches by ~1.6x every few seconds), and a speed-up is the median over rounds of
the same round's ratio (`bench_timing.paired_ratio`). Before each layer and each model the bench
checks how busy other processes keep the machine (`wait_for_quiet_machine`) and waits while they
are busier than --max_busy_cores; the checks and the 1-minute load averages go into each row of
the JSON (--out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator

from absl import app, flags

import experiments  # noqa: F401  (importing `experiments` sets cnnjax's XLA flags)
from cnnjax import provenance
from cnnjax.layers import conv_timing
from cnnjax.layers.onednn import library
from cnnjax.layers.onednn.conv import onednn_conv

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["layers", "steps"], "what to time: layers, steps")
flags.DEFINE_list("models", ["resnet20", "lenet5"], "training steps to time")
flags.DEFINE_integer("batch_size", 128, "examples per convolution call and per training step")
flags.DEFINE_integer("windows", 9, "rounds; each contender times one window per round")
flags.DEFINE_float("layer_window_seconds", 0.25, "layers: about this long a timed window")
flags.DEFINE_integer("steps_per_window", 10, "steps: training steps per timed window")
flags.DEFINE_float(
    "max_busy_cores", 0.3, "wait while other processes keep more cores than this busy"
)
flags.DEFINE_integer("load_retries", 5, "at most this many 60 s waits for a quiet machine")
flags.DEFINE_enum(
    "omp_wait_policy", None, ["active", "passive"],
    "OMP_WAIT_POLICY for oneDNN's OpenMP threads (default: libgomp's, spin then sleep)",
)  # fmt: skip
flags.DEFINE_string("out", "experiments/onednn/results.json", "JSON file for the results")

IMAGE_SHAPES = {"lenet5": (28, 28, 1), "resnet20": (32, 32, 3), "airbench_net": (32, 32, 3)}


@dataclasses.dataclass(frozen=True)
class Layer:
    """A convolution: input (N, *spatial, C_in), kernel (kh, kw, C_in, C_out)."""

    name: str
    spatial: tuple[int, int]
    kernel: tuple[int, int, int, int]
    strides: int = 1
    padding: str = "SAME"


LAYERS = (
    Layer("resnet20 stage 1 (x6)", (32, 32), (3, 3, 16, 16)),
    Layer("resnet20 stage 2 (x5)", (16, 16), (3, 3, 32, 32)),
    Layer("resnet20 stage 3 (x5)", (8, 8), (3, 3, 64, 64)),
    Layer("resnet20 stem", (32, 32), (3, 3, 3, 16)),
    Layer("resnet20 downsample 2", (32, 32), (3, 3, 16, 32), strides=2),
    Layer("resnet20 downsample 3", (16, 16), (3, 3, 32, 64), strides=2),
    Layer("lenet5 conv1", (28, 28), (5, 5, 1, 6)),
    Layer("lenet5 conv2", (14, 14), (5, 5, 6, 16), padding="VALID"),
)
OPS = ("forward", "input_grad", "kernel_grad")


def load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def busy_cores_while_idle(seconds: float = 5.0) -> float:
    """Cores kept busy by other processes: the machine's busy CPU time (/proc/stat) over
    `seconds` while this process sleeps, divided by `seconds`. Unlike the load average it does
    not count this process's own work from a moment ago."""

    start = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - start) / seconds


def machine_busy_seconds() -> float:
    """CPU seconds all processes have run so far, summed over cores (/proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def own_busy_seconds() -> float:
    times = os.times()
    return times.user + times.system


def wait_for_quiet_machine() -> list[dict]:
    """Load checks until the machine is quiet: each check is the 1-minute load average and
    `busy_cores_while_idle()`; after a check with other processes busier than --max_busy_cores
    it waits 60 s (at most --load_retries times). Returns the checks."""
    checks = [{"load_1min": load_average(), "busy_cores": busy_cores_while_idle()}]
    while checks[-1]["busy_cores"] > FLAGS.max_busy_cores and len(checks) <= FLAGS.load_retries:
        print(f"other processes keep {checks[-1]['busy_cores']:.2f} cores busy: waiting 60 s",
              flush=True)  # fmt: skip
        time.sleep(60)
        checks.append({"load_1min": load_average(), "busy_cores": busy_cores_while_idle()})
    return checks


def machine() -> dict:
    import jax
    import jaxlib

    return {
        "cpu": provenance.cpu_model(),
        "cores": os.cpu_count(),
        "xla_cpu_threads": library.xla_cpu_threads(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "onednn": library.dnnl_version(),
        "onednn_kernel_layout": "any",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(libgomp default)"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "python": sys.version.split()[0],
    }


def layer_ops(conv: Callable, layer: Layer) -> dict[str, Callable]:
    """op -> jitted f(x, k, dy): the forward conv(x, k), dx = d<conv(x, k), dy>/dx and
    dk = d<conv(x, k), dy>/dk, each alone (the other parts are dead code for XLA)."""
    import jax

    f = lambda x, k: conv(x, k, layer.strides, layer.padding)
    return {
        "forward": jax.jit(lambda x, k, dy: f(x, k)),
        "input_grad": jax.jit(lambda x, k, dy: jax.vjp(lambda x: f(x, k), x)[1](dy)[0]),
        "kernel_grad": jax.jit(lambda x, k, dy: jax.vjp(lambda k: f(x, k), k)[1](dy)[0]),
    }


def layer_contenders() -> dict[str, Callable]:
    from cnnjax.layers.conv import conv2d

    return {
        impl: lambda x, k, s, p, impl=impl: conv2d(x, k, strides=s, padding=p, impl=impl)
        for impl in ("xla_cpu", "onednn")
    }


def count_custom_calls(fn: Callable, *args) -> int:
    return fn.lower(*args).compile().as_text().count('custom_call_target="cnnjax_dnnl_conv')


def time_layer(layer: Layer) -> list[dict]:
    """One row per op: median ms per call of each contender and the paired speed-up."""
    import jax

    from experiments import bench_timing

    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (FLAGS.batch_size, *layer.spatial, layer.kernel[2]))
    k = jax.random.normal(keys[1], layer.kernel)
    ops = {key: layer_ops(conv, layer) for key, conv in layer_contenders().items()}
    y = ops["xla_cpu"]["forward"](x, k, None)
    dy = jax.random.normal(keys[2], y.shape)
    rows = []
    for op in OPS:
        calls = count_custom_calls(ops["onednn"][op], x, k, dy)
        if calls != 1:
            raise AssertionError(f"{layer.name} {op}: {calls} oneDNN calls compiled, not 1")
        fns = {key: ops[key][op] for key in ops}
        for fn in fns.values():
            fn(x, k, dy).block_until_ready()
        slowest = max(
            statistics.median(
                bench_timing.timed_windows(lambda: fn(x, k, dy).block_until_ready(), 3)
            )
            for fn in fns.values()
        )
        calls_per_window = max(2, math.ceil(FLAGS.layer_window_seconds / slowest))

        def runner(fn):
            def run(n):
                for _ in range(n):
                    out = fn(x, k, dy)
                out.block_until_ready()

            return run

        rates = bench_timing.interleaved_rates(
            {key: runner(fn) for key, fn in fns.items()},
            FLAGS.windows,
            calls_per_window,
            FLAGS.batch_size,
        )
        ms = {key: [1e3 * FLAGS.batch_size / r for r in rates[key]] for key in rates}
        rows.append({
            "layer": layer.name, "input": [FLAGS.batch_size, *layer.spatial, layer.kernel[2]],
            "kernel": list(layer.kernel), "strides": layer.strides, "padding": layer.padding,
            "op": op, "calls_per_window": calls_per_window,
            "xla_cpu_ms": statistics.median(ms["xla_cpu"]),
            "onednn_ms": statistics.median(ms["onednn"]),
            "onednn_speedup": bench_timing.paired_ratio(rates["onednn"], rates["xla_cpu"]),
            "window_ms": ms,
        })  # fmt: skip
        print(
            f"{layer.name:24} {op:12} xla_cpu {rows[-1]['xla_cpu_ms']:7.2f} ms  "
            f"onednn {rows[-1]['onednn_ms']:7.2f} ms  speed-up {rows[-1]['onednn_speedup']:.2f}x",
            flush=True,
        )
    return rows


@contextlib.contextmanager
def convolutions_by_onednn(min_channels: int) -> Iterator[list[int]]:
    """Within the block, conv2d's 'xla_cpu' path computes float32 convolutions with at least
    `min_channels` input channels by oneDNN (`onednn_conv`), others as before.
    Yields a list holding the number of convolutions traced through oneDNN so far."""
    import jax.numpy as jnp

    from cnnjax.layers import conv as conv_module

    original = conv_module._cpu_conv
    traced = [0]

    def conv(x, kernel, args, out_size):
        if x.dtype == jnp.float32 and x.shape[-1] >= min_channels:
            traced[0] += 1
            return onednn_conv(x, kernel, args, out_size)
        return original(x, kernel, args, out_size)

    conv_module._cpu_conv = conv
    try:
        yield traced
    finally:
        conv_module._cpu_conv = original


def counting_onednn_time(run: Callable[[int], None], totals: dict) -> Callable[[int], None]:
    """`run`, adding to totals['steps'] the steps it takes and to totals[pass] the seconds
    spent in oneDNN calls of each pass meanwhile (`library.call_stats`)."""

    def counted(n: int) -> None:
        before = library.call_stats()
        run(n)
        after = library.call_stats()
        totals["steps"] += n
        for p in library.PASSES:
            totals[p] += after[p]["seconds"] - before[p]["seconds"]

    return counted


def time_steps(name: str) -> dict:
    """Images/s of the training step of `name` with each convolution contender, interleaved.
    'onednn_convolutions_traced' counts the convolutions 'onednn_after_first' traced through
    oneDNN, in the parameter initialisation and the step (each layer twice); 'auto_choices'
    is what 'auto' chose for each of the model's convolution shapes; 'onednn_ms_per_step', per
    contender, the milliseconds per step spent inside oneDNN's calls, by pass."""
    from cnnjax.layers.cpu_conv import TAP_SUM_MAX_CHANNELS
    from experiments import bench_jax, bench_timing

    shape = IMAGE_SHAPES[name]
    prepare = lambda impl: bench_jax.prepare_training(name, shape, FLAGS.batch_size, impl)
    contenders = {impl: prepare(impl) for impl in ("xla_cpu", "onednn")}
    seen = set(conv_timing.choices())
    contenders["auto"] = prepare("auto")
    choices = {s: c for s, c in conv_timing.choices().items() if s not in seen}
    with convolutions_by_onednn(TAP_SUM_MAX_CHANNELS + 1) as count:
        contenders["onednn_after_first"] = prepare("xla_cpu")
    traced = {"onednn_after_first": count[0]}
    if not count[0]:
        raise AssertionError(f"{name} onednn_after_first: no convolution traced through oneDNN")
    totals = {key: dict.fromkeys(("steps", *library.PASSES), 0) for key in contenders}
    rates = bench_timing.interleaved_rates(
        {key: counting_onednn_time(run, totals[key]) for key, (run, _) in contenders.items()},
        FLAGS.windows,
        FLAGS.steps_per_window,
        FLAGS.batch_size,
    )
    out = {"model": name, "image_shape": list(shape), "onednn_convolutions_traced": traced,
           "auto_choices": choices}  # fmt: skip
    for key, (_, info) in contenders.items():
        out[key] = {
            "images_per_second": statistics.median(rates[key]),
            "window_images_per_second": rates[key],
            "compile_seconds": info["compile_seconds"],
            "onednn_ms_per_step": {
                p: 1e3 * totals[key][p] / totals[key]["steps"] for p in library.PASSES
            },
        }
        if key != "xla_cpu":
            out[key]["speedup"] = bench_timing.paired_ratio(rates[key], rates["xla_cpu"])
    summary = ", ".join(
        f"{key} {out[key]['images_per_second']:.0f} img/s"
        + (f" ({out[key]['speedup']:.2f}x)" if "speedup" in out[key] else "")
        + f" [{sum(out[key]['onednn_ms_per_step'].values()):.0f} ms/step in oneDNN]"
        for key in contenders
    )
    print(f"{name} training step: {summary}", flush=True)
    return out


def on_quiet_machine(measure: Callable[[], dict | list[dict]]) -> list[dict]:
    """measure()'s row(s), each with the load checks before it (`wait_for_quiet_machine`), the
    time it started, the 1-minute load average after it and the cores other processes kept
    busy meanwhile (the machine's busy CPU time less this process's, per wall second)."""
    checks = wait_for_quiet_machine()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    wall, machine_busy, own_busy = time.time(), machine_busy_seconds(), own_busy_seconds()
    rows = measure()
    others = (machine_busy_seconds() - machine_busy) - (own_busy_seconds() - own_busy)
    load = {"started": started, "load_checks_before": checks, "load_1min_after": load_average(),
            "other_busy_cores_during": others / (time.time() - wall)}  # fmt: skip
    return [{**row, **load} for row in (rows if isinstance(rows, list) else [rows])]


def main(argv):
    del argv
    for part in FLAGS.parts:
        if part not in ("layers", "steps"):
            raise app.UsageError(f"--parts: unknown {part!r}; choose from layers, steps")
    for name in FLAGS.models:
        if name not in IMAGE_SHAPES:
            raise app.UsageError(f"--models: unknown {name!r}; choose from {sorted(IMAGE_SHAPES)}")
    if FLAGS.omp_wait_policy:  # read by libgomp when load() brings it into the process
        os.environ["OMP_WAIT_POLICY"] = FLAGS.omp_wait_policy.upper()
    library.load(build_if_missing=True)
    print(f"'auto': choices stored for this machine in {conv_timing.cache_file()} are reused")
    results = {
        "command": "python -m experiments.onednn.bench " + " ".join(sys.argv[1:]),
        "provenance": provenance.collect(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "batch_size": FLAGS.batch_size,
        "windows": FLAGS.windows,
    }
    print(json.dumps(results["machine"]), flush=True)
    if "layers" in FLAGS.parts:
        results["layers"] = [
            row for layer in LAYERS for row in on_quiet_machine(lambda: time_layer(layer))
        ]
    if "steps" in FLAGS.parts:
        results["steps_per_window"] = FLAGS.steps_per_window
        results["steps"] = [
            row for name in FLAGS.models for row in on_quiet_machine(lambda: time_steps(name))
        ]
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
