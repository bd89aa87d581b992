"""Orbax checkpoints of a run: the TrainState, the best parameters so far, and the loop's state.

A checkpoint is written to a temporary folder and renamed when complete (Orbax's atomic save),
so a process killed at any moment leaves the previous checkpoint intact; leftovers of an
interrupted save are removed when the manager opens.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores (state, best, loop) at a global step in `directory`.

    state: the TrainState pytree; best: a pytree of the best epoch's variables or None;
    loop: a JSON-serialisable dict (epoch counter, history, early-stopping counters, ...).
    """

    def __init__(self, directory: str, keep: int):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=False, cleanup_tmp_directories=True
        )
        self._manager = ocp.CheckpointManager(os.path.abspath(directory), options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state, best, loop: dict[str, Any]) -> None:
        items = {"state": ocp.args.StandardSave(state), "loop": ocp.args.JsonSave(loop)}
        if best is not None:
            items["best"] = ocp.args.StandardSave(best)
        self._manager.save(step, args=ocp.args.Composite(**items), force=True)
        self._manager.wait_until_finished()

    def restore(self, state_template, best_template) -> tuple[Any, Any, dict[str, Any]]:
        """Restores the latest checkpoint into the structure of the given templates."""
        step = self.latest_step()
        abstract = lambda tree: jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
        items = {
            "state": ocp.args.StandardRestore(abstract(state_template)),
            "loop": ocp.args.JsonRestore(),
        }
        if best_template is not None:
            items["best"] = ocp.args.StandardRestore(abstract(best_template))
        restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        return (
            restored["state"],
            restored.get("best") if best_template is not None else None,
            restored["loop"],
        )

    def close(self) -> None:
        self._manager.close()
