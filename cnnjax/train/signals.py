"""SIGINT and SIGTERM as requests to checkpoint and stop, agreed on by every process.

The loop records a signal instead of dying (`recorded`), and at each host sync asks `agreed`
whether any process of the run received one. In a multi-process run a scheduler's SIGTERM (or
a Ctrl-C in one terminal) may reach only some processes; since checkpointing is collective,
all of them must save at the same step: `agreed` is an all-gather of each process's signal,
taken at the same step by every process, so either all save and stop there or none does.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils


class RunInterrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved before raising."""

    def __init__(self, signum: int, step: int):
        super().__init__(
            f"{signal.Signals(signum).name} received: saved a checkpoint at step "
            f"{step}; run the same command again to resume"
        )
        self.signum = signum


@contextlib.contextmanager
def recorded() -> Iterator[list[int]]:
    """Records SIGINT/SIGTERM in a list instead of raising; restores the handlers on exit."""
    received: list[int] = []
    handler = lambda signum, frame: received.append(signum)
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def agreed(received: list[int]) -> int:
    """The signal that stops the run now (0: none): this process's first, or, in a multi-process
    run, the largest first signal of any process. Every process must call it at the same step."""
    local = received[0] if received else 0
    if jax.process_count() == 1:
        return local
    return int(np.max(multihost_utils.process_allgather(np.int32(local))))
