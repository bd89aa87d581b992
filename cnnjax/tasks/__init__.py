"""The tasks one training loop runs (cnnjax.train.run), selected by config.task.

    task = tasks.of(config)            # a cnnjax.tasks.base.Task: that of config.task
    task = tasks.get("segmentation")   # by name
    tasks.list_tasks()                 # the registered names

Each task is one file here: a `Task` subclass registered with `base.register`.
"""

from __future__ import annotations

from cnnjax.config import ConfigError
from cnnjax.tasks import (  # noqa: F401 (each registers its task)
    classification,
    flow,
    gan,
    genomic,
    segmentation,
    superres,
)
from cnnjax.tasks.base import _REGISTRY, BatchFns, Splits, Task

__all__ = ["BatchFns", "Splits", "Task", "get", "list_tasks", "of"]


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Task:
    """The registered task `name`; ConfigError naming the field `task` otherwise."""
    if name not in _REGISTRY:
        valid = ", ".join(list_tasks())
        raise ConfigError(f"task: unknown task {name!r}; valid task names: {valid}")
    return _REGISTRY[name]


def of(config) -> Task:
    """The task of a run config: config.task ('classification' for a config.json saved
    before the field existed)."""
    return get(config.get("task", "classification"))
