"""How the benchmark times: windows of steps, taken in turns, and ratios of neighbours in time.

The 2-core VMs this project runs on switch, every few seconds to minutes, between speeds about
1.6x apart: the same LeNet-5 training step took 9.0 ms or 14.8 ms in back-to-back processes, and
switched within one process; PyTorch's step does the same (22,500 or 15,000 images/s). Timing
one contender's windows and then another's lets such a switch fall between them and puts it
into their ratio. So contenders take turns: round r times one window of each, starting at
contender r mod K, and a ratio is the median over rounds of the ratios of the same round's
windows, which a switch between rounds does not move.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def timed_windows(run_window: Callable[[], Any], windows: int) -> list[float]:
    """Seconds of each of `windows` calls of `run_window` (which must block until done)."""
    out = []
    for _ in range(windows):
        t = time.perf_counter()
        run_window()
        out.append(time.perf_counter() - t)
    return out


def interleaved_rates(
    runs: Mapping[str, Callable[[int], Any]],
    windows: int,
    steps_per_window: int,
    images_per_step: int,
    rewarm_steps: int = 1,
) -> dict[str, list[float]]:
    """Images/s of every contender in each of `windows` rounds, the contenders taking turns.

    runs[key](n) takes n training steps and blocks until they are done. In round r the
    contenders run in their order rotated by r (so none is always first after another), each
    taking `rewarm_steps` untimed steps (its caches and threads were someone else's a moment
    ago) and then one timed window of `steps_per_window` steps. Returns key -> the rounds'
    images/s, in round order, so that entry r of two lists was measured seconds apart.
    """
    if windows < 1 or steps_per_window < 1:
        raise ValueError(
            f"windows ({windows}) and steps_per_window ({steps_per_window}) must be >= 1"
        )
    keys = list(runs)
    rates: dict[str, list[float]] = {key: [] for key in keys}
    for r in range(windows):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            run = runs[key]
            if rewarm_steps:
                run(rewarm_steps)
            (seconds,) = timed_windows(lambda: run(steps_per_window), 1)
            rates[key].append(steps_per_window * images_per_step / seconds)
    return rates


def paired_ratio(ours: Sequence[float], reference: Sequence[float]) -> float:
    """The median over rounds of ours[r] / reference[r]: the speed ratio of two contenders
    timed in the same rounds (`interleaved_rates`)."""
    if len(ours) != len(reference) or not ours:
        raise ValueError(
            f"need the same non-zero number of rounds on both sides, got {len(ours)} and "
            f"{len(reference)}"
        )
    return statistics.median(o / r for o, r in zip(ours, reference))
