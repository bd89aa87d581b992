"""Checkpoints that validate what they read, and a full disk as one clear error (in-process)."""

import asyncio
import errno
import logging
import os
import shutil
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import report
from cnnjax.train import checkpoint, disk, errors, loop

# Random weights do not compress, so a flipped byte of their file is a flipped bit of a weight.
STATE = {
    "w": jnp.asarray(np.random.default_rng(0).normal(size=(64, 64)), jnp.float32),
    "b": jnp.zeros(4, jnp.int32),
}


def _saved(tmp_path, steps=(1, 2)):
    aside = str(tmp_path / "aside")
    ckpt = checkpoint.Checkpointer(str(tmp_path / "ckpt"), keep=3, aside_dir=aside)
    for step in steps:
        ckpt.save(step, {k: v + step for k, v in STATE.items()}, None, {"epoch": step})
    return ckpt


def _flip_a_byte(step_dir):
    """One flipped byte in the middle of the largest array file (the weights): a silent change
    of one weight, which Orbax restores without an error."""
    files = []
    for root, _, names in os.walk(os.path.join(step_dir, "state")):
        files += [os.path.join(root, n) for n in names if os.path.basename(root) == "d"]
    path = max(files, key=os.path.getsize)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(path, "wb").write(bytes(data))


def test_checksums_change_with_any_bit_and_name_the_leaf():
    sums = checkpoint.checksums({"state": STATE}, {"loop": {"epoch": 1}})
    assert set(sums) == {"state['b']", "state['w']", "loop"}
    w = STATE["w"]
    flipped = dict(STATE, w=w.at[2, 3].set(np.nextafter(w[2, 3], np.float32(np.inf))))
    again = checkpoint.checksums({"state": flipped}, {"loop": {"epoch": 1}})
    assert [k for k in sums if sums[k] != again[k]] == ["state['w']"]


def test_a_checkpoint_that_fails_its_checksums_is_moved_aside_and_the_one_before_used(tmp_path):
    ckpt = _saved(tmp_path)
    _flip_a_byte(tmp_path / "ckpt" / "2")
    state, best, loop_state = ckpt.restore(STATE, None)
    assert loop_state == {"epoch": 1} and best is None
    np.testing.assert_array_equal(state["w"], STATE["w"] + 1)
    assert sorted(os.listdir(tmp_path / "aside")) == ["2"] and ckpt.latest_step() == 1
    ckpt.save(2, STATE, None, {"epoch": 2})  # the run goes on: step 2 is written anew
    assert ckpt.latest_step() == 2


def test_when_no_checkpoint_restores_nothing_is_moved(tmp_path):
    ckpt = _saved(tmp_path)
    for step in ("1", "2"):
        _flip_a_byte(tmp_path / "ckpt" / step)
    match = r"no checkpoint in .*ckpt restores \(step 2: "
    with pytest.raises(errors.CheckpointError, match=match):
        ckpt.restore(STATE, None)
    assert not (tmp_path / "aside").exists()
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["1", "2"]


def test_a_checkpoint_from_before_checksums_restores_unchecked(tmp_path):
    ckpt = _saved(tmp_path, steps=(1,))
    shutil.rmtree(tmp_path / "ckpt" / "1" / "checksums")
    ckpt = checkpoint.Checkpointer(str(tmp_path / "ckpt"), keep=3)
    state, _, loop_state = ckpt.restore(STATE, None)
    assert loop_state == {"epoch": 1}
    np.testing.assert_array_equal(state["b"], STATE["b"] + 1)


def test_is_disk_full_sees_through_wrapped_errors():
    assert disk.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk.is_disk_full(ValueError("RESOURCE_EXHAUSTED: ... No space left on device [28]"))
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert disk.is_disk_full(outer)
    assert not disk.is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_a_checkpoint_without_room_is_refused_before_writing(tmp_path, monkeypatch):
    ckpt = _saved(tmp_path, steps=(1,))
    monkeypatch.setattr(disk, "free_bytes", lambda path: 1000)
    need = (64 * 64 * 4 + 4 * 4 + len('{"epoch": 2}') + checkpoint.METADATA_BYTES) / 1024
    with pytest.raises(errors.DiskFullError) as e:
        ckpt.save(2, STATE, None, {"epoch": 2})
    assert str(e.value).startswith(
        "the disk is full: no space left on device writing the checkpoint of step 2 in "
        f"{tmp_path}/ckpt (it needs about {need:.0f} KiB, 1 KiB are free); the last good "
        f"checkpoint (step 1) is kept in {tmp_path}/ckpt."
    )
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["1"]


def test_a_disk_that_fills_during_a_save_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    ckpt = _saved(tmp_path, steps=(1,))
    manager_save = ckpt._manager.save

    def fill_up(step, args, force):  # Orbax's error text, after writing part of the step
        os.makedirs(tmp_path / "ckpt" / f"{step}.orbax-checkpoint-tmp-123" / "state")
        raise ValueError(
            'RESOURCE_EXHAUSTED: Error writing "step/0": No space left on device [os_error_code=28]'
        )

    monkeypatch.setattr(ckpt._manager, "save", fill_up)
    with pytest.raises(errors.DiskFullError, match=r"checkpoint \(step 1\) is kept"):
        ckpt.save(2, STATE, None, {"epoch": 2})
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["1"]  # the partial write is removed
    monkeypatch.setattr(ckpt._manager, "save", manager_save)
    ckpt.save(2, STATE, None, {"epoch": 2})
    assert ckpt.latest_step() == 2


def test_a_full_disk_while_writing_reports_names_them_and_the_kept_checkpoint(
    tmp_path, make_config, monkeypatch
):
    workdir = str(tmp_path / "w")
    loop.run(make_config(epochs=1), workdir)

    def full(path, history):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(report, "write_metrics", full)
    with pytest.raises(errors.DiskFullError) as e:
        loop.run(make_config(epochs=2), str(tmp_path / "w2"))
    assert str(e.value).startswith(
        f"the disk is full: no space left on device writing the reports in {tmp_path}/w2; no "
        "checkpoint had been written yet."
    )


def test_a_train_state_saved_before_the_weight_average_existed_restores(tmp_path):
    """Checkpoints written before TrainState had its `ema` field (the state saved as Orbax
    saved that dataclass, checksums over it) restore into today's TrainState."""
    import jax
    import optax
    import orbax.checkpoint as ocp
    from flax import struct

    from cnnjax import models
    from cnnjax.train.state import create_train_state

    class OldTrainState(struct.PyTreeNode):  # TrainState's fields before `ema`
        step: jax.Array
        params: object
        batch_stats: object
        opt_state: object
        plateau: object
        rng: jax.Array

    model = models.create("mlp", 3, hidden_sizes=(4,))
    state = create_train_state(
        model, optax.sgd(0.1), optax.contrib.reduce_on_plateau(), jax.random.PRNGKey(0), (1, 5)
    )
    old = OldTrainState(*(getattr(state, f) for f in OldTrainState.__dataclass_fields__))
    manager = ocp.CheckpointManager(str(tmp_path / "ckpt"))
    loop_state = {"epoch": 1}
    sums = checkpoint.checksums({"state": old, "best": None}, {"loop": loop_state})
    manager.save(3, args=ocp.args.Composite(
        state=ocp.args.StandardSave(old), loop=ocp.args.JsonSave(loop_state),
        checksums=ocp.args.JsonSave(sums),
    ))
    manager.wait_until_finished()
    manager.close()
    ckpt = checkpoint.Checkpointer(str(tmp_path / "ckpt"), keep=2)
    restored, _, loop_back = ckpt.restore(state, None)
    assert loop_back == loop_state and restored.ema is None
    for a, b in zip(jax.tree.leaves(restored.params), jax.tree.leaves(state.params)):
        np.testing.assert_array_equal(a, b)


def test_after_a_failed_restore_orbax_s_unread_read_errors_are_dropped(caplog, monkeypatch):
    """What asyncio logs, or Python prints as unraisable, for each unread failure of Orbax's
    concurrent array reads (the restore reports the first), and a late read's callback on the
    closed loop, are dropped; other asyncio errors and exceptions pass on."""
    seen, uncaught = [], []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    monkeypatch.setattr(sys, "excepthook", lambda *info: uncaught.append(info[1]))
    monkeypatch.setattr(logging.getLogger("asyncio"), "filters", [])
    checkpoint._drop_orphaned_read_errors()
    checkpoint._drop_orphaned_read_errors()  # once only
    assert len(logging.getLogger("asyncio").filters) == 1

    async def _read_array_index_and_device_put():  # Orbax's coroutine's name
        pass

    async def mine():
        pass

    orbax_read, other_coroutine = _read_array_index_and_device_put(), mine()
    for coroutine in (orbax_read, other_coroutine):
        sys.unraisablehook(types.SimpleNamespace(object=coroutine))
        coroutine.close()
    assert [u.object for u in seen] == [other_coroutine]

    def raised(error, where):  # `error` raised in `where`, as sys.excepthook receives it
        try:
            where(error)
        except RuntimeError as e:
            return type(e), e, e.__traceback__

    closed = asyncio.new_event_loop()
    closed.close()
    callback_too_late = raised(None, lambda _: closed.call_soon_threadsafe(print))
    elsewhere = raised(RuntimeError("Event loop is closed"), lambda e: (_ for _ in ()).throw(e))
    for info in (callback_too_late, elsewhere):
        sys.excepthook(*info)
    assert uncaught == [elsewhere[1]]

    orphan = (
        "Task exception was never retrieved\nfuture: <Task finished name='Task-106' "
        "coro=<_read_array_index_and_device_put() done, defined at /site-packages/orbax/"
        "checkpoint/_src/serialization/serialization.py:272> exception=Exception('...')>"
    )
    other = "Task exception was never retrieved\nfuture: <Task finished coro=<mine() done>>"
    with caplog.at_level("ERROR", logger="asyncio"):
        logging.getLogger("asyncio").error(orphan)
        logging.getLogger("asyncio").error(other)
    assert [r.getMessage() for r in caplog.records] == [other]
