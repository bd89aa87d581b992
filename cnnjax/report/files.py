"""Atomic JSON / JSON-lines writers, TensorBoard event files (no TensorFlow) and text tables."""

from __future__ import annotations

import glob
import json
import os
from typing import Any, Iterable, Sequence

from tensorboardX import SummaryWriter

# The scalars of an epoch record besides its task's train_<f> and val_<f> figures.
TENSORBOARD_SCALARS = ("learning_rate", "penalty", "epoch_seconds", "images_per_second")


def _scalar_names(record: dict[str, Any]) -> list[str]:
    """The task figures (train_<f>, val_<f>: numbers) and TENSORBOARD_SCALARS of a record."""
    figures = [
        k for k, v in record.items()
        if k.startswith(("train_", "val_")) and (v is None or isinstance(v, (int, float)))
    ]
    return sorted(figures) + [k for k in TENSORBOARD_SCALARS if k in record]


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str, obj: Any) -> None:
    """Writes `obj` as indented JSON, atomically (a reader never sees half a file)."""
    _atomic_write(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def write_metrics(path: str, history: Iterable[dict[str, Any]]) -> None:
    """metrics.jsonl: one JSON object per epoch, rewritten atomically from the whole history."""
    _atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in history))


def write_tensorboard(
    logdir: str, history: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]] = ()
) -> None:
    """Replaces the event files in `logdir` with the history's scalars, one point per epoch,
    and `steps`' records (step, train_<f>: train_loss, train_accuracy, ...) as `step/<name>`
    at their step.

    Written with tensorboardX, so TensorBoard reads them without TensorFlow installed here.
    """
    os.makedirs(logdir, exist_ok=True)
    for old in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        os.remove(old)
    with SummaryWriter(logdir=logdir) as writer:
        for record in history:
            for key in _scalar_names(record):
                if record.get(key) is not None:
                    writer.add_scalar(key, record[key], global_step=record["epoch"])
        for record in steps:
            for key in (k for k in record if k.startswith("train_")):
                writer.add_scalar(f"step/{key}", record[key], global_step=record["step"])


def write_hparams(logdir: str, hparams: dict[str, Any], figures: dict[str, float]) -> None:
    """TensorBoard's HParams tab: the run's config fields (scalars; others as text) against
    its final figures, in `logdir`/hparams (rewritten)."""
    folder = os.path.join(logdir, "hparams")
    for old in glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"), recursive=True):
        os.remove(old)
    values = {
        k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in hparams.items()
    }
    metrics = {f"hparam/{k}": v for k, v in figures.items() if isinstance(v, (int, float))}
    with SummaryWriter(logdir=folder) as writer:
        writer.add_hparams(values, metrics, name=".")


def format_table(rows: Sequence[tuple[str, Any]], title: str = "") -> str:
    """A two-column plain-text table of (name, value) rows; floats to 4 significant places."""
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    width = max(len(k) for k, _ in rows)
    vwidth = max(len(fmt(v)) for _, v in rows)
    line = "+" + "-" * (width + 2) + "+" + "-" * (vwidth + 2) + "+"
    out = [title] if title else []
    out += [line] + [f"| {k:<{width}} | {fmt(v):>{vwidth}} |" for k, v in rows] + [line]
    return "\n".join(out)
