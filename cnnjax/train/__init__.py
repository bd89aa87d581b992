"""Training: the TrainState, pure steps, compiled epochs, checkpoints and the run loop."""

from cnnjax.train.state import TrainState, create_train_state, num_params
from cnnjax.train.steps import LossConfig, eval_step, train_step

__all__ = [
    "TrainState",
    "create_train_state",
    "num_params",
    "LossConfig",
    "train_step",
    "eval_step",
    "run",
]


def run(config, workdir, **kwargs):
    """See `cnnjax.train.loop.run`."""
    from cnnjax.train.loop import run as _run

    return _run(config, workdir, **kwargs)
