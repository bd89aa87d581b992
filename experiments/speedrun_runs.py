"""The CIFAR-10 speedrun's seeds and their results (experiments.speedrun is the runner): a
cnnjax seed through the one loop, airbench94's main(seed) beside it with the time it prints,
and results.json / results.md computed from the per-seed figures."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import types

import numpy as np

from cnnjax import data, provenance, report
from cnnjax.train import loop
from experiments.sweeps import verdicts

FIGURE = "test_accuracy_flip"  # the test-time-augmented accuracy, airbench's tta_val_acc


def cnnjax_seed(config, workdir: str, seed: int) -> dict:
    """One seed's figures from its run in workdir/seed_<seed> (trained unless it finished)."""
    config = config.copy_and_resolve_references()
    config.seed = seed
    folder = os.path.join(workdir, f"seed_{seed}")
    summary_path = os.path.join(folder, "summary.json")
    if os.path.exists(summary_path):
        summary = report.read_json(summary_path)
    else:
        summary = loop.run(config, folder, progress=False)
    return {
        "seed": seed,
        "accuracy": summary[FIGURE],
        "accuracy_one_view": summary["test_accuracy"],
        "seconds": summary["train_seconds"] + summary["test_seconds"],
        "train_seconds": summary["train_seconds"],
        "test_seconds": summary["test_seconds"],
        "provenance": summary["provenance"],
    }


def write_cifar_pt(folder: str, data_dir: str | None = None) -> None:
    """folder/cifar10/train.pt and test.pt as airbench's loader reads them, from cnnjax's
    CIFAR-10 reader (the same copy cnnjax trains on)."""
    import torch

    ds = data.load("cifar10", data_dir)
    os.makedirs(os.path.join(folder, "cifar10"), exist_ok=True)
    for name, split in (("train", ds.train), ("test", ds.test)):
        torch.save(
            {
                "images": torch.tensor(np.asarray(split.images)),
                "labels": torch.tensor(np.asarray(split.labels), dtype=torch.int64),
                "classes": list(ds.class_names),
            },
            os.path.join(folder, "cifar10", f"{name}.pt"),
        )


# airbench94.py on a CPU: its recipe untouched, the lines that tie it to CUDA and float16 swapped
# (data and network in float32 on the CPU; its CUDA-event timer for wall time), and torchvision
# (PyPI's builds need CUDA's libraries; airbench uses only its Normalize once train.pt exists)
# for the same normalisation in torch. Each `old` must occur in the file, so that another version
# of airbench fails here instead of running unported.
CPU_PORT = (
    ("import torchvision\n", "\n"),
    ("import torchvision.transforms as T", ""),
    ("map_location=torch.device(gpu)", "map_location=torch.device('cpu')"),
    ("(self.images.half() / 255)", "(self.images.float() / 255)"),
    ("net = net.half().cuda()", "net = net.float()"),
    ("torch.cuda.Event(enable_timing=True)", "_WallClockEvent()"),
    ("torch.cuda.synchronize()", "None"),
)
CPU_ADDITIONS = """
import time as _time


class _WallClockEvent:  # torch.cuda.Event's record / elapsed_time (ms) on the host clock
    def record(self):
        self.seconds = _time.perf_counter()

    def elapsed_time(self, end):
        return 1e3 * (end.seconds - self.seconds)


class T:  # torchvision.transforms.Normalize: (x - mean) / std per channel, in x's dtype
    class Normalize:
        def __init__(self, mean, std):
            self.mean, self.std = torch.as_tensor(mean), torch.as_tensor(std)

        def __call__(self, x):
            shape = (-1, 1, 1)
            return (x - self.mean.to(x).view(shape)) / self.std.to(x).view(shape)
"""


def cpu_port(source: str) -> str:
    """airbench94.py's source with CPU_PORT's substitutions (each must occur) and CPU_ADDITIONS."""
    for old, new in CPU_PORT:
        if old not in source:
            raise ValueError(f"airbench source has no {old!r}: not the airbench94.py ported here")
        source = source.replace(old, new)
    return source + CPU_ADDITIONS


def airbench_module(path: str, device: str = "cuda"):
    """airbench94.py imported from its file (its __main__ block does not run); with device='cpu'
    its `cpu_port`."""
    with open(path) as f:
        source = f.read()
    if device == "cpu":
        source = cpu_port(source)
    module = types.ModuleType("airbench94")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)
    return module


class _Tee(io.StringIO):
    """Keeps what is written and passes it on to `stream` as it comes (airbench's table, an
    epoch a row, shows while it trains)."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return super().write(text)


def airbench_record(workdir: str, device: str, seed: int) -> str:
    """Where airbench94's figures for `seed` on `device` ('cuda' or 'cpu') are kept."""
    return os.path.join(workdir, f"airbench94_{device}", f"seed_{seed}.json")


def airbench_seed(module, folder: str, seed: int, record: str) -> dict:
    """airbench94's main(seed) in `folder` (its relative cifar10/), with the time it prints,
    kept in `record` (a JSON file); a seed already recorded there is read back, not run again
    (`module` and `folder` are then unused)."""
    if os.path.exists(record):
        return report.read_json(record)
    import torch

    torch.manual_seed(seed)
    out = _Tee(sys.stdout)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out):
            accuracy = module.main(seed)
    finally:
        os.chdir(cwd)
    final = [line for line in out.getvalue().splitlines() if "|" in line and "eval" in line][-1]
    seconds = float([c.strip() for c in final.strip("|").split("|")][-1])
    row = {
        "seed": seed,
        "accuracy": float(accuracy),
        "seconds": seconds,
        "torch": torch.__version__,
    }
    os.makedirs(os.path.dirname(record), exist_ok=True)
    report.write_json(record, row)
    return row


def summarise(rows: list[dict]) -> dict:
    acc, sec = [r["accuracy"] for r in rows], [r["seconds"] for r in rows]
    std = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return {
        "accuracy_mean": float(np.mean(acc)),
        "accuracy_std": std(acc),
        "seconds_mean": float(np.mean(sec)),
        "seconds_std": std(sec),
    }


def judged(results: dict) -> dict:
    """Whether cnnjax's mean accuracy reaches the target (airbench's criterion: the mean over
    seeds), and with airbench94 beside it the verdicts of experiments/sweeps/verdicts.py's rule
    on the per-seed figures: as accurate (not lower by more than 0.1 points), and faster."""
    summary, rows = results["summary"], results["rows"]
    out = {"target_reached": summary["cnnjax"]["accuracy_mean"] >= results["target"]}
    if "airbench94" in rows:
        table = [
            {"run": name, **{key: [r[key] for r in rows[name]] for key in ("accuracy", "seconds")}}
            for name in ("cnnjax", "airbench94")
        ]
        comparisons = [
            verdicts.Comparison(
                "cnnjax is as accurate as airbench94 (within 0.1 points)",
                "cnnjax",
                "airbench94",
                "accuracy",
                "not_lower",
                margin=0.001,
            ),
            verdicts.Comparison(
                "cnnjax is faster than airbench94", "cnnjax", "airbench94", "seconds", "lower"
            ),
        ]
        out["comparisons"] = verdicts.evaluate(comparisons, table)
    return out


def write_results(out: str, results: dict) -> None:
    """out/results.json (`results` with its summary and verdicts computed) and out/results.md
    rendered from that file as written (its keys sorted), as a re-rendering reads it."""
    os.makedirs(out, exist_ok=True)
    results["summary"] = {name: summarise(rows) for name, rows in results["rows"].items()}
    results["verdicts"] = judged(results)
    path = os.path.join(out, "results.json")
    report.write_json(path, results)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(results_markdown(report.read_json(path)))


def results_markdown(results: dict) -> str:
    """results.md, every figure from results.json."""
    machine = results["machine"]
    lines = [
        "# The CIFAR-10 speedrun",
        "",
        f"`{results['command']}`, on {provenance.training_setup(machine)}. Test accuracy with "
        "test-time augmentation (airbench's tta_val_acc; cnnjax's test_accuracy_flip), on the "
        "shared CIFAR-10 copy (JPEG re-encoded, shuffled); seconds: training plus the final "
        "evaluation, compilation excluded.",
        "",
    ]
    if results.get("airbench", {}).get("device") == "cpu":
        lines += [
            "airbench94 ran as its CPU port (`experiments.speedrun_runs.cpu_port`: float32 on "
            "the CPU instead of float16 on CUDA, host wall-clock timing, torchvision's Normalize "
            "in torch; the recipe untouched).",
            "",
        ]
    lines += [
        "| contender | seeds | accuracy (mean ± std) | seconds (mean ± std) | per seed |",
        "|---|---|---|---|---|",
    ]
    for name, rows in results["rows"].items():
        s = results["summary"][name]
        per_seed = ", ".join(f"{r['accuracy']:.4f} ({r['seconds']:.1f} s)" for r in rows)
        lines.append(
            f"| {name} | {len(rows)} | {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f} | "
            f"{s['seconds_mean']:.1f} ± {s['seconds_std']:.1f} | {per_seed} |"
        )
    v, mean = results["verdicts"], results["summary"]["cnnjax"]["accuracy_mean"]
    reached = "reached" if v["target_reached"] else "not reached"
    lines += [
        "",
        f"cnnjax's mean {mean:.4f} against the target {results['target']:.4f}: **{reached}**.",
    ]
    if "comparisons" in v:
        lines += ["", verdicts.markdown(v["comparisons"])]
    lines.append("")
    return "\n".join(lines)
