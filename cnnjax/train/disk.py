"""A full disk as one clear error: every write of a run goes through `guard`, and a checkpoint
checks its room first (`require_free`), so a full disk ends the run with a DiskFullError that
says where, and which checkpoint is kept, instead of a library's traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from typing import Callable, Iterator

from cnnjax.train.errors import DiskFullError

# Errors of a full disk: their errno, and their text where a library re-raises them without
# one (Orbax's TensorStore writes end in ValueError('RESOURCE_EXHAUSTED: ... No space left on
# device [os_error_code=28]')).
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, reports a full disk or quota."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return True
        if any(text in str(error) for text in _FULL_TEXTS):
            return True
        error = error.__cause__ or error.__context__
    return False


def _message(what: str, where: str, kept: str, detail: str = "") -> str:
    return (
        f"the disk is full: no space left on device writing {what} in {where}{detail}; {kept}. "
        "Free some space there and run the same command again to resume"
    )


@contextlib.contextmanager
def guard(what: str, where: str, kept: Callable[[], str]) -> Iterator[None]:
    """Turns a full-disk error raised inside the block into a DiskFullError naming `what` was
    being written `where` and, from `kept()`, what the run keeps."""
    try:
        yield
    except Exception as e:
        if is_disk_full(e):
            raise DiskFullError(_message(what, where, kept())) from None
        raise


def free_bytes(path: str) -> int:
    """Bytes free to this user on the file system holding `path` (or its nearest parent)."""
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def require_free(path: str, nbytes: int, what: str, kept: Callable[[], str]) -> None:
    """Raises DiskFullError before writing `what` (about `nbytes`) in `path` when less is free."""
    free = free_bytes(path)
    if free < nbytes:
        detail = f" (it needs about {_kib(nbytes)}, {_kib(free)} are free)"
        raise DiskFullError(_message(what, path, kept(), detail))


def _kib(nbytes: int) -> str:
    return f"{nbytes / 1024:,.0f} KiB"
