r"""Trains one config: `python -m experiments.train --config=experiments/configs/digits.py`.

Flags:
  --config      an ml_collections config file; override fields with --config.<field>=<value>,
                e.g. --config.optimizer.name=adam --config.epochs=3.
  --workdir     where config.json, metrics.jsonl, summary.json, curves.png, tensorboard/ and
                checkpoints/ go. Running the same command again resumes from the last checkpoint.
  --data_dir    a folder holding the dataset files (overrides config.dataset.data_dir).
  --overwrite   discard a run of a different config found in --workdir.
  --[no]progress  a progress bar per epoch (default: on when stderr is a terminal).
  --coordinator_address, --num_processes, --process_id
                multi-host data parallelism: every process runs the same command with its own
                --process_id, and `jax.distributed.initialize` joins them (on CPUs over gloo
                collectives); set --config.num_devices=0 to split each batch over the devices
                of all processes. Only process 0 writes reports.
"""

from __future__ import annotations

import logging as std_logging
import sys

import jax
from absl import flags, logging
from ml_collections import config_flags

from cnnjax import report
from cnnjax.train import errors, loop, signals
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    "experiments/configs/digits.py",
    "Config file (a get_config() module).",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run.", required=True)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder with the dataset files.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Discard a different run in --workdir.")
_PROGRESS = flags.DEFINE_bool("progress", None, "Show a progress bar (default: if a terminal).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in a multi-host run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0 .. n - 1.")

def summary_rows(summary) -> list[str]:
    """The rows of the printed results: the run, its task's test figures (with their std over
    seeds, and with test-time flips), best_val_<primary>, the times."""
    figures = [k for k in summary if k.startswith("test_") and not k.endswith("_no_ema")]
    best = [k for k in summary if k.startswith("best_val_")]
    return [
        "task", "dataset", "model", "num_params", "num_seeds", "epochs_run",
        *sorted(figures), *best, "train_seconds", "compile_seconds",
    ]  # fmt: skip


class _OnlyOwnInfo:
    """Drops the INFO chatter of libraries (orbax logs every file it writes); keeps warnings."""

    def filter(self, record) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def initialize_distributed() -> None:
    """Joins a multi-process run when --coordinator_address is given (before any JAX work)."""
    if _COORDINATOR.value is None:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU backend only
    jax.distributed.initialize(
        coordinator_address=_COORDINATOR.value,
        num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value,
    )


def main(argv):
    del argv
    initialize_distributed()
    logging.get_absl_handler().addFilter(_OnlyOwnInfo())
    config = _CONFIG.value
    if _DATA_DIR.value is not None:
        config.dataset.data_dir = _DATA_DIR.value
    try:
        summary = loop.run(
            config, _WORKDIR.value, progress=_PROGRESS.value, overwrite=_OVERWRITE.value
        )
    except signals.RunInterrupted as e:
        logging.warning("%s", e)
        sys.exit(128 + e.signum)
    except (ValueError, errors.RunError) as e:  # bad input, divergence, full disk: one line
        sys.exit(f"error: {e}")
    if jax.process_index() != 0:
        return
    print(
        report.format_table(
            [(k, summary[k]) for k in summary_rows(summary) if k in summary],
            title=f"results ({_WORKDIR.value})",
        )
    )


if __name__ == "__main__":
    cli.run(main)
