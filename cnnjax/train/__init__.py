"""Training: the TrainState, pure steps, compiled epochs, checkpoints and the run loop.

  state.py       TrainState, its creation, and a run's optimizer (frozen layers included)
  steps.py       pure train/eval steps on a batch, for every task (cnnjax.tasks)
  epoch.py       compiled training step that gathers its batch, whole evaluation, replicas
  data_setup.py  a run's splits, training subsets and device mesh, placed on the devices
  loop.py        run(config, workdir): setup, epochs, checkpoints, signals, reports
  setup.py       a run's fixed context: task, data, model, state, compiled functions
  epochs.py      one epoch: steps, host syncs, validation, plateau, early stopping
  loop_state.py  the loop's per-replica bookkeeping and running sums
  results.py     metrics.jsonl, curves, the epoch's log line, summary.json
  checkpoint.py  Orbax checkpoints validated by CRC-32, with fallback to an older step
  workdir.py     a workdir's identity (config.json), its outputs, and its lock
  signals.py     SIGINT/SIGTERM as a checkpoint-and-stop agreed by every process
  disk.py        a full disk as one clear error
  errors.py      why a run stops early, each error a one-line message
  trained.py     a finished run read back (model, variables, test data)
  probe.py       a linear-SVM probe of a trained network's features
"""

from cnnjax.train.state import TrainState, create_train_state, num_params
from cnnjax.train.steps import Penalty, eval_step, train_step

__all__ = [
    "TrainState",
    "create_train_state",
    "num_params",
    "Penalty",
    "train_step",
    "eval_step",
    "run",
]


def run(config, workdir, **kwargs):
    """See `cnnjax.train.loop.run`."""
    from cnnjax.train.loop import run as _run

    return _run(config, workdir, **kwargs)
