"""A run's workdir: which config it holds (its identity), what a run writes there, and the lock
that keeps a second launch out while a run is in progress.

The lock is an advisory `fcntl.flock` on <workdir>/.lock, held for the life of a run. The
kernel releases it when its process ends, however it ends (SIGKILL included), so a killed run
leaves no stale lock; the file stays, naming the last process that held it. It needs a local
file system or one whose locks work across machines (most network file systems' do).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import glob
import json
import os
import shutil
import socket
from typing import Any, Iterator

import ml_collections

from cnnjax import config as config_lib
from cnnjax import report
from cnnjax.train.errors import WorkdirConflictError, WorkdirError, WorkdirLockedError

LOCK_FILE = ".lock"

# What a run writes into its workdir (and what --overwrite deletes; nothing else is touched).
RUN_OUTPUTS = (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "curves.png",
    "confusion_matrix.png",
    "tensorboard",
    "checkpoints",
    "checkpoints_corrupt",  # checkpoints that did not restore, moved aside (train.checkpoint)
    "seed_*",  # per-seed reports of a multi-seed run
)


def _flat(config_dict: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in config_dict.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def run_identity(config_json: dict[str, Any]) -> dict[str, Any]:
    """The flat fields that decide a run's numbers: all but RESUME_INDEPENDENT_FIELDS and the
    model_args of models other than the selected one (so registering a new model, or editing
    another model's defaults, does not orphan existing workdirs)."""
    own = f"model_args.{config_json['model']}."
    return {
        k: v
        for k, v in _flat(config_json).items()
        if k not in config_lib.RESUME_INDEPENDENT_FIELDS
        and (not k.startswith("model_args.") or k.startswith(own))
    }


def config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
    return json.loads(config.to_json())


def config_differences(old_json: dict[str, Any], new_json: dict[str, Any]) -> list[str]:
    """The run-identity fields in which two configs differ, as 'field: old -> new'.

    A field that `old_json` lacks (it was added to cnnjax after that run was made) counts as
    equal when `new_json` holds the field's default, which by convention keeps the old behaviour.
    """
    old, new = run_identity(old_json), run_identity(new_json)
    defaults = _flat(config_json(config_lib.base_config()))
    return [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
        and not (k not in old and k in defaults and new[k] == defaults[k])
    ]


def _run_outputs(workdir: str) -> list[str]:
    """The paths of RUN_OUTPUTS present in `workdir`."""
    return sorted(
        full for pattern in RUN_OUTPUTS for full in glob.glob(os.path.join(workdir, pattern))
    )


def ensure_folder(path: str, what: str = "workdir") -> str:
    """`path` made absolute and created if missing; WorkdirError (one line) when it is a file,
    lies under a file, or cannot be created."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise WorkdirError(f"the {what} {path} is a file, not a folder; choose a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise WorkdirError(f"cannot create the {what} {path}: {e.strerror}") from None
    return path


@contextlib.contextmanager
def locked(workdir: str) -> Iterator[None]:
    """Holds <workdir>/.lock for the block; WorkdirLockedError, naming the process that holds
    it, when another run is in progress there."""
    path = os.path.join(workdir, LOCK_FILE)
    try:
        f = open(path, "a+")
    except OSError as e:
        raise WorkdirError(f"cannot create the lock file {path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "a process that has not written its name yet"
            raise WorkdirLockedError(
                f"{workdir} is in use by another run ({holder}); wait for it to end or stop "
                "it, or choose another --workdir"
            ) from None
        started = datetime.datetime.now().isoformat(timespec="seconds")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n")
        f.flush()
        yield
    finally:
        f.close()  # closing the file releases the lock


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str, overwrite: bool) -> None:
    """Writes `workdir`'s config.json; refuses a workdir holding a different config, or run
    outputs (checkpoints, metrics) without the config.json that says whose they are.

    With `overwrite`, an existing run in `workdir` is deleted first (config.json or not).
    """
    path = os.path.join(workdir, "config.json")
    if overwrite:
        for full in _run_outputs(workdir):
            if os.path.isdir(full):
                shutil.rmtree(full)
            else:
                os.remove(full)
    elif os.path.exists(path):
        try:
            saved = report.read_json(path)
        except ValueError as e:
            raise WorkdirConflictError(
                f"{path} is not valid JSON ({e}); pass --overwrite to discard the run in "
                f"{workdir}, or choose another --workdir"
            ) from None
        diffs = config_differences(saved, config_json(config))
        if diffs:
            raise WorkdirConflictError(
                f"{workdir} holds a run of a different config ({'; '.join(diffs)}); pass "
                "--overwrite to discard that run, or choose another --workdir"
            )
    elif outputs := _run_outputs(workdir):
        names = ", ".join(os.path.basename(p) for p in outputs)
        raise WorkdirConflictError(
            f"{workdir} holds run outputs ({names}) but no config.json, so which config they "
            "belong to is unknown; pass --overwrite to discard them, or choose another --workdir"
        )
    os.makedirs(workdir, exist_ok=True)
    report.write_json(path, config_json(config))
