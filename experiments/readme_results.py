r"""The README's results and benchmark tables, generated from committed files:
`make readme-results`.

The runs behind the results table live in experiments/results/main_runs/<name>/ (each run's
summary.json and config.json, copied from its workdir, with provenance: commit, versions,
device); the benchmark's JSON files (`python -m experiments.benchmark --out=...`, one per
machine) in experiments/results/benchmark/. This module renders both tables between the
README's markers from those files, so the README's figures are the files' (tested):

    python -m experiments.readme_results --add=mnist:runs/mnist  # copy a finished run's files
    python -m experiments.readme_results                          # rewrite README.md's tables

Flags:
  --add     NAME:WORKDIR, NAME one of MAIN_RUNS: copy WORKDIR's summary.json and config.json
            into experiments/results/main_runs/NAME/ first (repeatable).
  --readme  the README to rewrite (default README.md).
"""

from __future__ import annotations

import os
import shutil
import sys

from absl import flags

from cnnjax import provenance, report
from experiments import cli

# name -> (what the row shows, the command that produces the run)
MAIN_RUNS = {
    "digits": ("digits (main job)", "make train"),
    "mnist": ("MNIST", "make train-mnist"),
    "fashion_mnist": ("Fashion-MNIST", "make train-fashion-mnist"),
    "cifar10": ("CIFAR-10*", "make train-cifar10"),
    "cifar10_resnet20": ("CIFAR-10*", "make train-cifar10-resnet20"),
}
FOLDER = os.path.join("experiments", "results", "main_runs")
FILES = ("summary.json", "config.json")
BEGIN = "<!-- main results: computed from experiments/results/main_runs -->"
END = "<!-- /main results -->"
BENCH_FOLDER = os.path.join("experiments", "results", "benchmark")
BENCH_BEGIN = "<!-- benchmarks: computed from experiments/results/benchmark -->"
BENCH_END = "<!-- /benchmarks -->"

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("add", [], "NAME:WORKDIR of a finished run to copy in first.")
flags.DEFINE_string("readme", "README.md", "The README to rewrite.")


def add(name: str, workdir: str, folder: str = FOLDER) -> None:
    """Copies a finished run's FILES from `workdir` into <folder>/<name>/."""
    if name not in MAIN_RUNS:
        raise ValueError(f"--add {name}: expected one of {', '.join(MAIN_RUNS)}")
    missing = [f for f in FILES if not os.path.isfile(os.path.join(workdir, f))]
    if missing:
        raise ValueError(f"--add {name}: {workdir} has no {', '.join(missing)} (not finished?)")
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    for f in FILES:
        shutil.copyfile(os.path.join(workdir, f), os.path.join(folder, name, f))


def _percent(summary: dict, key: str) -> str:
    """A test accuracy in percent, with its std over seeds when there are several."""
    seeds = summary.get("per_seed") or [summary]
    if len(seeds) == 1:
        return f"{100 * summary[key]:.2f}%"
    return f"{100 * summary[key]:.2f} ± {100 * summary[key + '_std']:.2f}% ({len(seeds)} seeds)"


def row(name: str, summary: dict, config: dict) -> str:
    """One table row of a committed run."""
    what, command = MAIN_RUNS[name]
    record = summary.get("provenance") or {}
    versions = record.get("versions") or {}
    commit = provenance.short_commit(record)
    where = (
        f"{record.get('device_kind', '?')} x{record.get('device_count', '?')}, "
        f"jax {versions.get('jax', '?')}, {commit}"
    )
    accuracy = _percent(summary, "test_accuracy")
    if "test_accuracy_flip" in summary:
        accuracy += f"; with test-time flips {_percent(summary, 'test_accuracy_flip')}"
    cells = [
        what,
        f"`{summary['model']}` ({summary['num_params']:,})",
        f"{config['epochs']}",
        f"**{accuracy}**",
        f"{summary['train_seconds']:,.0f} s",
        where,
        f"`{command}`",
    ]
    return "| " + " | ".join(cells) + " |"


def table(folder: str = FOLDER) -> str:
    """The README section: a row per committed run of MAIN_RUNS, in MAIN_RUNS' order."""
    lines = [
        BEGIN,
        "| config | model (params) | epochs | test accuracy | training time | trained on "
        "(device, jax, commit) | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in MAIN_RUNS:
        paths = [os.path.join(folder, name, f) for f in FILES]
        if all(os.path.isfile(p) for p in paths):
            lines.append(row(name, *(report.read_json(p) for p in paths)))
    return "\n".join(lines + [END])


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _has_custom_calls(row: dict) -> bool:
    """Whether the row's convolutions may be oneDNN's FFI calls, whose FLOPs XLA's cost
    analysis does not see (its MFU would be too low)."""
    return row["resolved_conv_impl"] in ("timed", "onednn")


def benchmark(results: dict, name: str) -> str:
    """One benchmark file's figures: throughput against PyTorch, compile seconds with a cold
    and a warm cache, and the wall time to the MNIST target, each where it was measured."""
    m, record = results["machine"], results.get("provenance") or {}
    commit = provenance.short_commit(record)
    torch = f", torch {m['torch']} ({m['torch_threads']} threads)" if "torch" in m else ""
    lines = [
        f"Measured by `{results['command']}` on {m['device_kind']} ({m['cpu']}, {m['cores']} "
        f"cores), jax {m['jax']}{torch}, batch {results['batch_size']}, "
        f"{results['dtype']}, commit {commit} (`{name}`):",
        "",
        "| model | conv | cnnjax img/s | compile s | MFU | torch eager img/s | "
        "torch.compile img/s | x eager | x compile |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        eager, compiled = r.get("torch_eager", {}), r.get("torch_compile", {})
        cells = [
            f"{r['model']} {r['input']}",
            r["resolved_conv_impl"] + (" (auto)" if r["conv_impl"] == "auto" else ""),
            _cell(r["cnnjax"]["images_per_second"], ",.0f"),
            _cell(r["cnnjax"]["compile_seconds"], ".2f"),
            _cell(None if _has_custom_calls(r) else r["mfu"], ".1%"),
            _cell(eager.get("images_per_second"), ",.0f"),
            _cell(compiled.get("images_per_second"), ",.0f"),
            _cell(r.get("ratio_torch_eager"), ".2f"),
            _cell(r.get("ratio_torch_compile"), ".2f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"fp32 matmul peak {results['matmul_peak_gflops']:.1f} GFLOP/s, timed in the "
              "same run (MFU counts XLA's FLOPs)."]
    if any(_has_custom_calls(r) for r in results["rows"]):
        lines[-1] += (" No MFU where convolutions may run as oneDNN calls ('timed', 'onednn'):"
                      " XLA counts no FLOPs in them.")
    if "compile_cache" in results:
        cold_warm = ", ".join(
            f"{k} {v['cold']:.2f} / {v['warm']:.2f} s" for k, v in results["compile_cache"].items()
        )
        lines.append(f"Compile of the train step with a cold / warm cache: {cold_warm}.")
    if "time_to_accuracy" in results:
        tta = results["time_to_accuracy"]
        show = lambda s: "not reached" if s is None else f"{s:.1f} s"  # noqa: E731
        lines += [
            "",
            f"Wall time to {tta['target']:.1%} MNIST test accuracy (LeNet-5), compile and setup "
            "included, median over seeds:",
            "",
            "| | median | per seed (epochs) |",
            "|---|---|---|",
        ]
        for key, r in tta.items():
            if key == "target":
                continue
            seeds = ", ".join(
                show(x["seconds"]) + ("" if x["seconds"] is None else f" ({x['epochs']})")
                for x in r["runs"]
            )
            median = show(r["median_seconds"])
            if r["median_seconds"] is not None:
                median += f" ({r['median_epochs']} epochs)"
            lines.append(f"| {key} | {median} | {seeds} |")
    return "\n".join(lines)


def benchmarks(folder: str = BENCH_FOLDER) -> str:
    """The README section: every committed benchmark file, by name."""
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    parts = [benchmark(report.read_json(os.path.join(folder, n)), n) for n in names
             if n.endswith(".json")]
    return "\n\n".join([BENCH_BEGIN, *parts, BENCH_END])


def _between(text: str, begin: str, end: str, section: str, readme: str) -> str:
    if begin not in text or end not in text:
        raise ValueError(f"{readme} has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    return head + section + rest.split(end, 1)[1]


def rewrite(readme: str, folder: str = FOLDER, bench_folder: str = BENCH_FOLDER) -> None:
    """Puts table(folder) and benchmarks(bench_folder) between their markers in `readme`
    (ValueError when it lacks them)."""
    text = open(readme).read()
    text = _between(text, BEGIN, END, table(folder), readme)
    text = _between(text, BENCH_BEGIN, BENCH_END, benchmarks(bench_folder), readme)
    with open(readme, "w") as f:
        f.write(text)


def main(argv):
    del argv
    try:
        for spec in FLAGS.add:
            name, sep, workdir = spec.partition(":")
            if not sep:
                raise ValueError(f"--add {spec!r}: expected NAME:WORKDIR")
            add(name, workdir)
        rewrite(FLAGS.readme)
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(f"{FLAGS.readme}: results table from {FOLDER}")


if __name__ == "__main__":
    cli.run(main)
