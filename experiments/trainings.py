"""What a runner that trains many models in one invocation needs (experiments/gan): finished
trainings kept on disk, their error handling and their results.

    record, reused = load_or_train(path, identity, train)

`identity` is a JSON-able dict of everything that changes a training's numbers (its config
fields, model, seed); `train()` returns the training's JSON-able record. If `path` holds a
record saved with an equal identity it is returned without training (an interrupted or
repeated invocation resumes with the next training); otherwise `train()` runs and its record
is saved to `path` (atomically) with the identity.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import sys
from typing import Any, Callable, Iterator

import jax
import numpy as np

from cnnjax import data, report
from experiments.sweeps.figures import mean_std


def config_identity(config, fields: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """The named top-level `fields` of an ml_collections config (sub-configs as dicts), and
    `extra`, normalised through JSON so that it compares equal to a saved copy."""
    values = {k: config[k] for k in fields}
    values = {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in values.items()}
    return json.loads(json.dumps({**values, **extra}))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """The index batches of one epoch over n examples: a permutation drawn from (seed, epoch)
    alone, cut into n // batch_size full batches (the rest is left for this epoch), each
    sorted (contiguous reads)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for b in range(n // batch_size):
        yield np.sort(order[b * batch_size : (b + 1) * batch_size])


def history_curve(records: list[dict[str, Any]], key: str) -> tuple[list, list]:
    """(means, stds) over `records` (one per seed) of figure `key` at each entry of their
    'history' (one entry per epoch or evaluation, the same in every record): a line for
    report.plot_lines."""
    points = [
        mean_std([r["history"][i][key] for r in records]) for i in range(len(records[0]["history"]))
    ]
    return [m for m, _ in points], [s for _, s in points]


def load_or_train(
    path: str, identity: dict[str, Any], train: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """(record, True) from `path` if saved there with `identity`, else (train(), False) after
    saving it there."""
    if os.path.isfile(path):
        saved = report.read_json(path)
        if saved.get("identity") == identity:
            return saved["record"], True
    record = train()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    report.write_json(path, {"identity": identity, "record": record})
    return record, False


def timing(records: list[dict[str, Any]], wall_seconds: float) -> str:
    """The results.md line on time: the trainings' own seconds (saved with them, so a rerun
    that reuses them still reports what they cost) and this invocation's wall time."""
    total = sum(r["seconds"] for r in records)
    return (
        f"Training time: {total / 60:.1f} min over {len(records)} trainings (this invocation: "
        f"{wall_seconds / 60:.1f} min)"
    )


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Bad input (ValueError, DataError) or a diverged training (FloatingPointError) ends the
    program with `error: <message>` on stderr and status 1, not a traceback; finished trainings
    stay saved."""
    try:
        yield
    except (ValueError, data.DataError, FloatingPointError) as e:
        sys.exit(f"error: {e}")


def write_results(
    results_dir: str,
    module: str,
    payload: dict[str, Any],
    body: list[str],
    records: list[dict[str, Any]],
    wall_seconds: float,
) -> None:
    """results.json (`payload` with the command and wall time) and results.md (`body`, then
    the command, the machine and `timing`) in `results_dir`; prints results.md."""
    command = " ".join([f"python -m {module}", *(shlex.quote(a) for a in sys.argv[1:])])
    report.write_json(
        os.path.join(results_dir, "results.json"),
        {**payload, "command": command, "wall_seconds": wall_seconds},
    )
    md = "\n".join(
        [
            *body,
            f"Command: `{command}`  ",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0]}, "
            f"jax {jax.__version__}  ",
            timing(records, wall_seconds),
            "",
        ]
    )
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write(md)
    print(md)
