r"""Training speed of cnnjax against PyTorch on this machine, side by side in one process.

    python -m experiments.benchmark                 # lenet5 28x28x1 and resnet20 32x32x3
    python -m experiments.benchmark --quick         # fewer windows, no torch.compile
    python -m experiments.benchmark --time_to_accuracy   # + MNIST wall time to 99.0% test
                                                         #   (median over --tta_seeds seeds)
    python -m experiments.benchmark --time_to_accuracy --tta_recipes=sgd_cosine,speedrun
                                 # + the same with the CIFAR-10 speedrun's optimizer tools
    python -m experiments.benchmark --compile_cache      # + compile seconds, cold and warm

For each model: steady-state training images/s (median of timed windows after warm-up),
compile seconds of the first step, forward + backward + update FLOPs from XLA's cost analysis
and MFU against the fp32 matmul peak measured in the same run; then PyTorch eager and
torch.compile on the same architecture (parameter counts asserted equal) with the same thread
count, and the ratios. The contenders of a model take turns, one timed window each per round,
and a ratio is the median of the rounds' ratios (`bench_timing`: this machine's speed drifts
between rounds). --compile_cache times the compile of each model's step in two fresh processes
sharing an empty persistent compilation cache: cold, then warm. Writes the table as JSON
(--out). PyTorch is optional (`pip install -e .[bench]`); without it only the cnnjax columns are
filled.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

from absl import app, flags

import cnnjax
from cnnjax import data, provenance, report, runtime
from experiments import bench_jax, bench_timing, cli

IMAGE_SHAPES = {"lenet5": (28, 28, 1), "resnet20": (32, 32, 3)}
TORCH_MODES = {"torch_eager": False, "torch_compile": True}  # key -> under torch.compile

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["lenet5", "resnet20"], f"models to time: {sorted(IMAGE_SHAPES)}")
flags.DEFINE_integer("batch_size", 128, "examples per training step")
flags.DEFINE_list("conv_impls", ["auto"], "cnnjax convolution implementations to time")
flags.DEFINE_bool("quick", False, "3 windows of 5 steps, PyTorch eager only (a minute or two)")
flags.DEFINE_integer("windows", 7, "rounds of timed windows, one window per contender each")
flags.DEFINE_integer("steps_per_window", 20, "training steps per timed window")
flags.DEFINE_enum("torch", "auto", ["auto", "on", "off"], "PyTorch reference: auto = if installed")
flags.DEFINE_enum(
    "torch_device", "auto", ["auto", "cpu", "cuda"],
    "PyTorch's device: auto = cuda when JAX runs on a GPU and PyTorch sees one, else cpu",
)  # fmt: skip
flags.DEFINE_bool("torch_compile", True, "also time torch.compile (skipped by --quick)")
flags.DEFINE_bool("time_to_accuracy", False, "MNIST LeNet-5 wall time to --target test accuracy")
flags.DEFINE_float("target", 0.99, "time_to_accuracy: test accuracy to reach")
flags.DEFINE_integer("max_epochs", 10, "time_to_accuracy: give up after this many epochs")
flags.DEFINE_float("tta_learning_rate", 0.05, "time_to_accuracy: peak SGD momentum lr (cosine)")
flags.DEFINE_list(
    "tta_recipes",
    ["sgd_cosine", "speedrun"],
    f"time_to_accuracy: training recipes, of {bench_jax.RECIPES}",
)
flags.register_validator(
    "tta_recipes",
    lambda recipes: set(recipes) <= set(bench_jax.RECIPES),
    f"--tta_recipes: each must be one of {', '.join(bench_jax.RECIPES)}",
)
flags.DEFINE_float(
    "tta_speedrun_learning_rate", 0.15, "time_to_accuracy, speedrun recipe: peak Nesterov lr"
)
flags.DEFINE_integer(
    "tta_speedrun_epochs", 3, "time_to_accuracy, speedrun recipe: the schedule's epochs (max)"
)
flags.DEFINE_integer(
    "tta_seeds", 3, "time_to_accuracy: seeds per framework (median reported)", lower_bound=1
)
flags.DEFINE_string("data_dir", None, "time_to_accuracy: folder holding MNIST")
flags.DEFINE_bool("compile_cache", False, "compile seconds cold and warm, in fresh processes")
flags.DEFINE_string("compile_only", None, "internal: print one model's step compile seconds")
flags.DEFINE_string("cache_dir", None, "internal: compilation cache folder for --compile_only")
flags.DEFINE_string("out", "benchmark.json", "JSON file for the results")


def machine() -> dict:
    import jax

    return {
        "cpu": provenance.cpu_model(),
        "cores": os.cpu_count(),
        "device": str(jax.devices()[0]),
        "device_kind": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "cnnjax_default_xla_flags": runtime.applied_xla_flags(),
        "python": sys.version.split()[0],
    }


def _torch():
    if FLAGS.torch == "off":
        return None
    try:
        import torch

        from experiments import bench_torch
    except ImportError:
        if FLAGS.torch == "on":
            raise
        return None
    torch.set_num_threads(os.cpu_count())
    return bench_torch


def resolve_torch_device(choice: str, jax_backend: str, cuda_available: bool) -> str:
    """PyTorch's device for --torch_device `choice`: 'auto' follows JAX onto a GPU when
    PyTorch sees one, so both frameworks run on the same chip; else the CPU."""
    if choice != "auto":
        return choice
    return "cuda" if jax_backend == "gpu" and cuda_available else "cpu"


def torch_device() -> str:
    import jax
    import torch

    return resolve_torch_device(
        FLAGS.torch_device, jax.default_backend(), torch.cuda.is_available()
    )


def throughput_rows(bt, timing: dict, peak: float) -> list[dict]:
    """One row per model and conv impl: cnnjax's images/s, FLOPs and MFU beside PyTorch's.

    All contenders of a model (PyTorch eager, torch.compile, each conv impl) are prepared
    first and then timed in turns, window by window (`bench_timing.interleaved_rates`); a
    ratio is the median of same-round ratios (`bench_timing.paired_ratio`).
    """
    rows = []
    for name in FLAGS.models:
        shape = IMAGE_SHAPES[name]
        contenders = {}  # key -> (run, info)
        if bt is not None:
            images, labels = bench_jax.synthetic_data(shape, 8, FLAGS.batch_size)
            for key, compiled in TORCH_MODES.items():
                if compiled and (FLAGS.quick or not FLAGS.torch_compile):
                    continue
                contenders[key] = bt.prepare_training(
                    name, shape, images, labels, FLAGS.batch_size, compiled,
                    device=torch_device(),
                )  # fmt: skip
        for impl in FLAGS.conv_impls:
            run, info = bench_jax.prepare_training(name, shape, FLAGS.batch_size, impl)
            for key, (_, ref) in contenders.items():
                if ref["num_params"] != info["num_params"]:
                    raise AssertionError(
                        f"{name}: PyTorch has {ref['num_params']} parameters, cnnjax "
                        f"{info['num_params']}: not the same architecture"
                    )
            contenders[f"cnnjax_{impl}"] = run, info
        rates = bench_timing.interleaved_rates(
            {key: run for key, (run, _) in contenders.items()},
            timing["windows"], timing["steps_per_window"], FLAGS.batch_size,
        )  # fmt: skip
        figures = {
            key: {**info, "images_per_second": statistics.median(rates[key]),
                  "window_images_per_second": rates[key]}
            for key, (_, info) in contenders.items()
        }  # fmt: skip
        reference = {key: figures[key] for key in TORCH_MODES if key in figures}
        for impl in FLAGS.conv_impls:
            ours = figures[f"cnnjax_{impl}"]
            flops_per_s = ours["flops_per_step"] * ours["images_per_second"] / FLAGS.batch_size
            resolved = cnnjax.layers.resolve_conv_impl(impl)
            # XLA's cost analysis counts no FLOPs in oneDNN's FFI calls: no MFU where they run
            ffi_convs = resolved in (cnnjax.layers.TIMED, "onednn")
            row = {
                "model": name,
                "input": "x".join(map(str, shape)),
                "conv_impl": impl,
                "resolved_conv_impl": resolved,
                "cnnjax": ours,
                "gflops_per_step": ours["flops_per_step"] / 1e9,
                "mfu": None if ffi_convs else flops_per_s / peak,
                **reference,
            }
            for key, ref in reference.items():
                row[f"ratio_{key}"] = bench_timing.paired_ratio(
                    ours["window_images_per_second"], ref["window_images_per_second"]
                )
            rows.append(row)
    return rows


def format_rows(rows: list[dict]) -> str:
    header = [
        "model", "conv", "cnnjax img/s", "compile s", "GFLOP/step", "MFU",
        "torch eager img/s", "torch.compile img/s", "x eager", "x compile",
    ]  # fmt: skip
    fmt = lambda v, spec: "-" if v is None else format(v, spec)
    table = []
    for r in rows:
        eager, comp = r.get("torch_eager", {}), r.get("torch_compile", {})
        table.append([
            f"{r['model']} {r['input']}",
            r["resolved_conv_impl"],
            fmt(r["cnnjax"]["images_per_second"], ".0f"),
            fmt(r["cnnjax"]["compile_seconds"], ".2f"),
            fmt(r["gflops_per_step"], ".2f"),
            fmt(r["mfu"], ".1%"),
            fmt(eager.get("images_per_second"), ".0f"),
            fmt(comp.get("images_per_second"), ".0f"),
            fmt(r.get("ratio_torch_eager"), ".2f"),
            fmt(r.get("ratio_torch_compile"), ".2f"),
        ])  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    line = lambda cells: "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in table])


def median_of_runs(runs: list[dict]) -> dict:
    """{'runs', 'median_seconds', 'median_epochs'} of time-to-accuracy runs over seeds; a run
    that never reached the target counts as slower than every run that did (None if the
    median one did not)."""
    key = lambda r: math.inf if r["seconds"] is None else r["seconds"]
    middle = sorted(runs, key=key)[(len(runs) - 1) // 2]
    return {"runs": runs, "median_seconds": middle["seconds"], "median_epochs": middle["epochs"]}


def time_to_accuracy_rows(bt) -> dict:
    """Each framework's median over --tta_seeds seeds for each of --tta_recipes (seeds
    alternate between frameworks, so a drift of the machine's speed touches both). PyTorch runs
    twice: from cnnjax's initial weight distribution (the same recipe) and from its own default
    one. Keys: 'cnnjax', 'torch_eager', 'torch_eager_torch_init' for the sgd_cosine recipe,
    with ' (speedrun)' appended for the speedrun recipe."""
    ds = data.load("mnist", FLAGS.data_dir)
    settings = {  # recipe: (peak learning rate, epochs of its schedule and at most)
        "sgd_cosine": (FLAGS.tta_learning_rate, FLAGS.max_epochs),
        "speedrun": (FLAGS.tta_speedrun_learning_rate, FLAGS.tta_speedrun_epochs),
    }
    runners = {}
    for recipe in FLAGS.tta_recipes:
        lr, epochs = settings[recipe]
        args = ("lenet5", ds.train, ds.test, FLAGS.target, epochs, FLAGS.batch_size, lr)
        suffix = "" if recipe == "sgd_cosine" else f" ({recipe})"
        run = functools.partial(bench_jax.time_to_accuracy, *args, recipe=recipe)
        runners["cnnjax" + suffix] = run
        if bt is not None:
            run_torch = functools.partial(
                bt.time_to_accuracy, *args, recipe=recipe, device=torch_device()
            )
            runners["torch_eager" + suffix] = run_torch
            runners["torch_eager_torch_init" + suffix] = functools.partial(
                run_torch, torch_init=True
            )
    runs = {key: [] for key in runners}
    for seed in range(FLAGS.tta_seeds):
        for key, run in runners.items():
            runs[key].append({"seed": seed, **run(seed=seed)})
    return {key: median_of_runs(r) for key, r in runs.items()}


def compile_cache_rows() -> dict:
    """{model: {'cold': s, 'warm': s}}: the step's compile seconds in a first process with an
    empty compilation cache and in a second one that finds the first one's entries."""
    out = {}
    for name in FLAGS.models:
        with tempfile.TemporaryDirectory() as cache:
            seconds = []
            for _ in range(2):
                cmd = [sys.executable, "-m", "experiments.benchmark", f"--compile_only={name}",
                       f"--cache_dir={cache}", f"--batch_size={FLAGS.batch_size}"]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
                seconds.append(json.loads(proc.stdout.strip().splitlines()[-1])["compile_seconds"])
        out[name] = {"cold": seconds[0], "warm": seconds[1]}
    return out


def main(argv):
    del argv
    if FLAGS.compile_only:
        runtime.enable_compilation_cache(FLAGS.cache_dir)
        shape = IMAGE_SHAPES[FLAGS.compile_only]
        _, info = bench_jax.prepare_training(FLAGS.compile_only, shape, FLAGS.batch_size, None, 0)
        print(json.dumps({"compile_seconds": info["compile_seconds"]}))
        return
    for name in FLAGS.models:
        if name not in IMAGE_SHAPES:
            raise app.UsageError(f"--models: unknown {name!r}; choose from {sorted(IMAGE_SHAPES)}")
    timing = {"windows": FLAGS.windows, "steps_per_window": FLAGS.steps_per_window}
    if FLAGS.quick:
        timing = {"windows": 3, "steps_per_window": 5}
    bt = _torch()
    peak = bench_jax.matmul_peak_flops()
    command = "python -m experiments.benchmark " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results = {"command": command, "provenance": provenance.collect(), "machine": machine(),
               "batch_size": FLAGS.batch_size, "dtype": "float32",
               "matmul_peak_gflops": peak / 1e9, **timing}  # fmt: skip
    if bt is not None:
        import torch

        threads = torch.get_num_threads()
        results["machine"].update(
            torch=torch.__version__, torch_threads=threads, torch_device=torch_device()
        )
    results["rows"] = throughput_rows(bt, timing, peak)
    m = results["machine"]
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s; {m['device_kind']} ({m['device']}); "
          f"{m['cpu']}, {m['cores']} cores; torch on {m.get('torch_device', '-')}; "
          f"batch {FLAGS.batch_size}")  # fmt: skip
    print(format_rows(results["rows"]))
    if FLAGS.time_to_accuracy:
        tta = time_to_accuracy_rows(bt)
        results["time_to_accuracy"] = {"target": FLAGS.target, **tta}
        show = lambda s: "not reached" if s is None else f"{s:.1f} s"
        for key, r in tta.items():
            seeds = ", ".join(f"{show(x['seconds'])} ({x['epochs']} ep)" for x in r["runs"])
            median = f"{show(r['median_seconds'])}, {r['median_epochs']} epochs"
            print(f"MNIST LeNet-5 to {FLAGS.target:.1%} test, {key}: median {median}; {seeds}")
    if FLAGS.compile_cache:
        results["compile_cache"] = compile_cache_rows()
        for name, r in results["compile_cache"].items():
            print(f"{name} train step compile: cold cache {r['cold']:.2f} s, "
                  f"warm cache {r['warm']:.2f} s")  # fmt: skip
    report.write_json(FLAGS.out, results)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)
