"""Orbax checkpoints of a run: the TrainState, the best parameters so far, and the loop's state,
with a checksum of every array so that a restore validates what it reads.

A checkpoint is written to a temporary folder and renamed when complete (Orbax's atomic save),
so a process killed at any moment leaves the previous checkpoint intact; leftovers of an
interrupted save are removed when the manager opens. A checkpoint that does not restore (its
files garbled by a failing disk or a broken copy: Orbax's error, or an array whose CRC-32 differs
from the one saved beside it) is skipped with a warning, and the newest one that restores is
used; the skipped ones are then moved aside (never deleted) into `aside_dir`.
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import os
import shutil
import sys
import zlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from cnnjax.train import disk
from cnnjax.train.errors import CheckpointError

# Room a checkpoint needs beyond its arrays' bytes: Orbax's metadata files (measured: about
# 20 KiB for a small model) with a margin.
METADATA_BYTES = 64 * 1024


ORBAX_READ = "_read_array_index_and_device_put"  # Orbax's coroutine reading one array


class _OrphanedReadErrors(std_logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" report of an Orbax array read."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        message = str(record.msg)
        orphan = message.startswith("Task exception was never retrieved")
        return not (orphan and ORBAX_READ in message)


def _closed_loop_callback(kind, value, tb) -> bool:
    """Whether an exception is asyncio's "Event loop is closed", raised when a read that
    finished after Orbax's restore gave up schedules its callback on the closed loop."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (
        kind is RuntimeError
        and str(value) == "Event loop is closed"
        and tb is not None
        and tb.tb_frame.f_code.co_filename.endswith(os.path.join("asyncio", "base_events.py"))
    )


def _drop_orphaned_read_errors() -> None:
    """Keeps the aftermath of a failed restore off stderr (installed once, on the first
    checkpoint that does not restore).

    Orbax reads a checkpoint's arrays in concurrent tasks, raises the first failure and closes
    its event loop; the other reads go on. When they are collected, asyncio logs each failed
    one ("Task exception was never retrieved") or Python prints it as unraisable, and one that
    finishes later fails to call back into the closed loop ("Event loop is closed"), each with
    a traceback (and the whole TensorStore spec), often after the run's one-line error. The
    restore has already reported the step's failure, so these are dropped; every other
    asyncio error, unraisable and uncaught exception passes on as before."""
    logger = std_logging.getLogger("asyncio")
    if any(isinstance(f, _OrphanedReadErrors) for f in logger.filters):
        return
    logger.addFilter(_OrphanedReadErrors())
    unraisable_hook, except_hook = sys.unraisablehook, sys.excepthook

    def unraisable(report):
        code = getattr(report.object, "cr_code", None)
        if code is None or code.co_name != ORBAX_READ:
            unraisable_hook(report)

    def uncaught(kind, value, tb):
        if not _closed_loop_callback(kind, value, tb):
            except_hook(kind, value, tb)

    sys.unraisablehook, sys.excepthook = unraisable, uncaught


def _host(leaf) -> np.ndarray:
    """A leaf's value on this host: a replicated global array's local copy in a multi-process
    run, where the array is not fully addressable."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        leaf = leaf.addressable_data(0)
    return np.ascontiguousarray(jax.device_get(leaf))


def checksums(trees: dict[str, Any], documents: dict[str, Any]) -> dict[str, int]:
    """CRC-32 of every array leaf of `trees` (keyed by item name and leaf path) and of every
    JSON document of `documents` (keyed by item name)."""
    out = {
        name: zlib.crc32(json.dumps(doc, sort_keys=True).encode())
        for name, doc in documents.items()
    }
    for name, tree in trees.items():
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            out[name + jax.tree_util.keystr(path)] = zlib.crc32(_host(leaf).view(np.uint8))
    return out


def _payload_bytes(*trees) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(trees))


def _first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of the innermost error `error` was raised from (Orbax wraps TensorStore's
    error, which names the file, in a generic one)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}: {text[0] if text else ''}"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _keeps_ema(state) -> bool:
    """Whether `state` is a TrainState-like dataclass with an `ema` field."""
    return dataclasses.is_dataclass(state) and any(
        f.name == "ema" for f in dataclasses.fields(state)
    )


def _stored(state):
    """(the tree stored as the 'state' item, the tree its checksums cover, its EMA or None).

    A TrainState is stored as a dict of its array fields without `ema` and without the
    optional fields it leaves None (lookahead), under the field names as checkpoints have
    always held it, so that those written before the EMA or lookahead existed restore; its EMA,
    when it keeps one, is an item of its own. Any other pytree is stored as it is."""
    if not _keeps_ema(state):
        return state, state, None
    arrays = {
        f.name: getattr(state, f.name)
        for f in dataclasses.fields(state)
        if f.metadata.get("pytree_node", True)
        and f.name != "ema"
        and getattr(state, f.name) is not None
    }
    return arrays, state.replace(ema=None), state.ema


class Checkpointer:
    """Saves and restores (state, best, loop) at a global step in `directory`.

    state: the TrainState (its weight average, if it keeps one, stored as the item "ema");
    best: a pytree of the best epoch's variables or None;
    loop: a JSON-serialisable dict (epoch counter, history, early-stopping counters, ...).
    aside_dir: where checkpoints that do not restore are moved; None to leave them in place.
    """

    def __init__(self, directory: str, keep: int, aside_dir: str | None = None):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=False, cleanup_tmp_directories=True
        )
        self.directory = os.path.abspath(directory)
        self.aside_dir = aside_dir
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def kept(self) -> str:
        """What a run that stops now keeps, as a clause for an error message."""
        last = self.latest_step()
        if last is None:
            return "no checkpoint had been written yet"
        return f"the last good checkpoint (step {last}) is kept in {self.directory}"

    def save(self, step: int, state, best, loop: dict[str, Any]) -> None:
        """Writes the checkpoint of `step`, or raises DiskFullError (keeping the previous ones
        and removing the partial write) when the disk has no room for it."""
        what = f"the checkpoint of step {step}"
        arrays, covered, ema = _stored(state)
        trees = {"state": covered, "ema": ema, "best": best}
        sums = checksums(trees, {"loop": loop})
        need = _payload_bytes(state, best) + len(json.dumps(loop)) + METADATA_BYTES
        disk.require_free(self.directory, need, what, self.kept)
        items = {
            "state": ocp.args.StandardSave(arrays),
            "loop": ocp.args.JsonSave(loop),
            "checksums": ocp.args.JsonSave(sums),
        }
        for name in ("ema", "best"):
            if trees[name] is not None:
                items[name] = ocp.args.StandardSave(trees[name])
        with disk.guard(what, self.directory, self.kept):
            try:
                self._manager.save(step, args=ocp.args.Composite(**items), force=True)
                self._manager.wait_until_finished()
            except Exception:
                self._remove_partial(step)
                raise

    def _remove_partial(self, step: int) -> None:
        """Removes what a failed save of `step` left (Orbax's temporary folder), freeing space."""
        if jax.process_index() != 0:
            return
        for name in os.listdir(self.directory):
            if name.startswith(f"{step}.orbax-checkpoint-tmp"):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def restore(self, state_template, best_template) -> tuple[Any, Any, dict[str, Any]]:
        """(state, best, loop) of the newest checkpoint that restores and matches its checksums,
        in the structure of the templates. Newer ones that do not are logged and moved aside
        (into aside_dir). Raises CheckpointError when none restores."""
        failures = []
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                restored = self._restore_step(step, state_template, best_template)
            except Exception as e:  # any reason a step cannot be read: try the one before
                _drop_orphaned_read_errors()
                logging.warning(
                    "checkpoint %s does not restore (%s); trying the one before",
                    os.path.join(self.directory, str(step)),
                    _first_line(e),
                )
                failures.append((step, e))
                continue
            self._move_aside([s for s, _ in failures])
            return restored
        reasons = "; ".join(f"step {s}: {_first_line(e, 200)}" for s, e in failures)
        raise CheckpointError(
            f"no checkpoint in {self.directory} restores ({reasons}); pass --overwrite to "
            "discard the run and start it afresh"
        )

    def _restore_step(self, step: int, state_template, best_template):
        abstract = lambda tree: jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
        arrays, _, ema_template = _stored(state_template)
        items = {
            "state": ocp.args.StandardRestore(abstract(arrays)),
            "loop": ocp.args.JsonRestore(),
        }
        for name, template in (("ema", ema_template), ("best", best_template)):
            if template is not None:
                items[name] = ocp.args.StandardRestore(abstract(template))
        has_sums = os.path.isdir(os.path.join(self.directory, str(step), "checksums"))
        if has_sums:  # checkpoints written before checksums existed restore unchecked
            items["checksums"] = ocp.args.JsonRestore()
        restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        state = restored["state"]
        if _keeps_ema(state_template):
            state = state_template.replace(**state, ema=None)
        ema, best, loop = restored.get("ema"), restored.get("best"), restored["loop"]
        if has_sums:
            found = checksums({"state": state, "ema": ema, "best": best}, {"loop": loop})
            bad = sorted(k for k, v in restored["checksums"].items() if found.get(k) != v)
            if bad or found.keys() != restored["checksums"].keys():
                raise CheckpointError(
                    f"{len(bad)} array(s) differ from their saved CRC-32, first {bad[:1]}"
                )
        if _keeps_ema(state_template):
            state = state.replace(ema=ema)
        return state, best if best_template is not None else None, loop

    def _move_aside(self, steps: list[int]) -> None:
        """Moves the folders of `steps` into aside_dir (process 0; the others wait for it)."""
        if not steps or self.aside_dir is None:
            return
        if jax.process_index() == 0:
            os.makedirs(self.aside_dir, exist_ok=True)
            for step in steps:
                target = os.path.join(self.aside_dir, str(step))
                n = 1
                while os.path.exists(target):
                    n += 1
                    target = os.path.join(self.aside_dir, f"{step}-{n}")
                os.replace(os.path.join(self.directory, str(step)), target)
                logging.warning("moved checkpoint %d, which does not restore, to %s", step, target)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("cnnjax: checkpoints moved aside")
        self._manager.reload()

    def close(self) -> None:
        self._manager.close()
