"""What a run shows while it trains, beyond its per-epoch records: training loss and accuracy
every few steps (config.tensorboard.every_steps) and `jax.profiler` traces of chosen steps
(config.profile), both into the run's tensorboard/ folder.

Step records come from the epoch's running sums, which the host reads at every sync anyway:
the record at step s holds the task's training figures (loss, accuracy, ...) of the steps
since the previous sync,

    train_loss = (loss_sum(s) - loss_sum(s')) / (count(s) - count(s')),

so they cost no extra device work, and they live in the checkpointed loop state: a resumed
run's records are those of an uninterrupted run.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax


def step_records(
    step: int, now: list[dict], before: list[dict] | None, train_record: Callable
) -> list[dict | None]:
    """Per replica, the record of the steps between two syncs from the epoch's running sums
    then and now (`before` None: from the epoch's start): train_<f> of the task's
    `train_record` of the sums' differences; None for a replica that trained no example in
    between (it stopped)."""
    out = []
    for r, sums in enumerate(now):
        prev = before[r] if before is not None else {name: 0.0 for name in sums}
        delta = {name: sums[name] - prev[name] for name in sums if name != "nonfinite_step"}
        if delta["count"] <= 0:
            out.append(None)
            continue
        figures = train_record(delta)
        out.append({"step": step, **{f"train_{name}": v for name, v in figures.items()}})
    return out


class Profiler:
    """Traces global steps [first_step, first_step + num_steps) with `jax.profiler` into
    `logdir` (TensorBoard's profile plugin reads it), in the main process; nothing when
    num_steps is 0 or the run resumes past them."""

    def __init__(self, logdir: str, first_step: int, num_steps: int):
        self.logdir, self.first, self.last = logdir, first_step, first_step + num_steps - 1
        self.enabled = num_steps > 0 and jax.process_index() == 0
        self.tracing = False

    def before(self, step: int, count: int = 1) -> None:
        """Called before steps step .. step + count - 1 run (one call, or one scan)."""
        if self.enabled and step <= self.first < step + count and not self.tracing:
            os.makedirs(self.logdir, exist_ok=True)
            jax.profiler.start_trace(self.logdir)
            self.tracing = True

    def after(self, step: int, outputs: Any) -> None:
        if self.tracing and step >= self.last:
            jax.block_until_ready(outputs)
            jax.profiler.stop_trace()
            self.tracing = False

    def close(self) -> None:
        """Stops a trace still running (the run ended or was interrupted inside it)."""
        if self.tracing:
            jax.profiler.stop_trace()
            self.tracing = False
