"""Why a run stopped before its end: each error's message names the problem, the file or field,
and what was kept, so that the runner prints it as one line without a traceback.

ValueError subclasses are bad input (nothing was trained); RunError subclasses stop a run that
had started (its last good checkpoint stays, and the same command resumes from it).
"""


class WorkdirError(ValueError):
    """The workdir cannot be used: it is a file, cannot be created, or holds another run."""


class WorkdirConflictError(WorkdirError):
    """The workdir holds a run of a different config, or outputs of an unknown one."""


class WorkdirLockedError(WorkdirError):
    """Another process is running in the workdir (it holds the workdir's lock)."""


class RunError(RuntimeError):
    """A started run cannot go on; the message says what was kept and how to resume."""


class NonFiniteLossError(RunError):
    """The training loss became NaN or infinite."""


class DiskFullError(RunError):
    """No space was left on the device a run writes to."""


class CheckpointError(RunError):
    """No checkpoint in the workdir restores."""
