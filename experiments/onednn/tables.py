"""Markdown tables of a `bench.py` results file, as README.md shows them.

    python -m experiments.onednn.tables experiments/onednn/results.json

`layer_table`: per convolution and op, the median ms per call of 'xla_cpu' and 'onednn' and the
paired speed-up. `step_table`: per model, images/s of each training-step contender, its paired
speed-up over 'xla_cpu' and the ms per step spent inside oneDNN's calls. `layer_sum_table`: per
model, the per-layer times summed over the model's convolutions (each layer's multiplicity,
no input gradient for the first layer), what the training step would take in convolutions if
they cost there what they cost alone.
"""

from __future__ import annotations

import json
import re
import sys

OPS = ("forward", "input_grad", "kernel_grad")
OP_NAMES = {"forward": "forward", "input_grad": "input grad", "kernel_grad": "kernel grad"}
STEP_CONTENDERS = ("xla_cpu", "onednn", "auto", "onednn_after_first")


def _shape(row: dict) -> str:
    n, h, w, c = row["input"]
    kh, kw, _, c_out = row["kernel"]
    return f"{h}x{w}x{c} -> {c_out}, {kh}x{kw} s{row['strides']} {row['padding']}"


def layer_table(results: dict) -> str:
    lines = [
        "| layer | input -> C_out | op | xla_cpu ms | oneDNN ms | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for row in results.get("layers", []):
        lines.append(
            f"| {row['layer']} | {_shape(row)} | {OP_NAMES[row['op']]} | "
            f"{row['xla_cpu_ms']:.2f} | {row['onednn_ms']:.2f} | {row['onednn_speedup']:.2f}x |"
        )
    return "\n".join(lines)


def _multiplicity(layer: str) -> int:
    """'resnet20 stage 1 (x6)' -> 6; 1 where the name gives none."""
    match = re.search(r"\(x(\d+)\)", layer)
    return int(match.group(1)) if match else 1


def layer_sums(results: dict) -> dict[str, dict[str, float]]:
    """model -> {'xla_cpu': ms, 'onednn': ms, 'best': ms}: each layer's ops times its
    multiplicity, summed; the first layer (stem, conv1) without its input gradient, which
    training never computes; 'best' takes the faster impl per layer (all three ops together),
    as 'auto' does."""
    sums: dict[str, dict[str, float]] = {}
    by_layer: dict[str, dict[str, dict]] = {}
    for row in results.get("layers", []):
        by_layer.setdefault(row["layer"], {})[row["op"]] = row
    for layer, ops in by_layer.items():
        model = layer.split()[0]
        first = layer.endswith(("stem", "conv1"))
        used = [op for op in OPS if op in ops and not (first and op == "input_grad")]
        times = {impl: sum(ops[op][f"{impl}_ms"] for op in used) for impl in ("xla_cpu", "onednn")}
        k = _multiplicity(layer)
        entry = sums.setdefault(model, {"xla_cpu": 0.0, "onednn": 0.0, "best": 0.0})
        for impl, t in times.items():
            entry[impl] += k * t
        entry["best"] += k * min(times.values())
    return sums


def layer_sum_table(results: dict) -> str:
    lines = [
        "| model | convolutions alone, xla_cpu ms | oneDNN ms | faster per layer ms |",
        "|---|---|---|---|",
    ]
    for model, s in layer_sums(results).items():
        lines.append(f"| {model} | {s['xla_cpu']:.0f} | {s['onednn']:.0f} | {s['best']:.0f} |")
    return "\n".join(lines)


def step_table(results: dict) -> str:
    lines = [
        "| model | contender | img/s | speed-up | ms per step | in oneDNN ms per step |",
        "|---|---|---|---|---|---|",
    ]
    batch = results["batch_size"]
    for row in results.get("steps", []):
        for key in STEP_CONTENDERS:
            if key not in row:
                continue
            c = row[key]
            speedup = f"{c['speedup']:.2f}x" if "speedup" in c else "1 (reference)"
            in_onednn = c.get("onednn_ms_per_step")
            in_onednn = "-" if in_onednn is None else f"{sum(in_onednn.values()):.0f}"
            lines.append(
                f"| {row['model']} | {key} | {c['images_per_second']:,.0f} | {speedup} | "
                f"{1e3 * batch / c['images_per_second']:.0f} | {in_onednn} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        results = json.load(f)
    print(f"`{results['command']}`, {results['date']}\n")
    for table in (layer_table, layer_sum_table, step_table):
        print(table(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
