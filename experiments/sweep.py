r"""Runs a sweep and writes its table and plots: `python -m experiments.sweep --sweep=lenet`.

Flags:
  --sweep        a name from experiments.sweeps.SWEEPS.
  --quick        the reduced grid on a subset of the data (minutes on 2 CPU cores).
  --workdir      where the runs go (default runs/sweeps/<name>[_quick]); run again to resume.
  --results_dir  where results.md, results.json and the PNGs go (default
                 experiments/results/<name> for a full sweep, <workdir>/results for --quick).
  --data_dir     a folder holding the dataset files.
  --epochs, --train_size, --seeds
                 a reduced budget for every run of the full grid (epochs, training images,
                 seeds); the runs go to runs/sweeps/<name>_reduced by default and the command
                 in results.md says which budget the results had.
  --runs         a regular expression: train and tabulate only the runs whose name it matches
                 (e.g. --runs=_mlp_ for the MLP half of the activations grid); the runs keep
                 their folders, so the whole grid run later in the same workdir skips them.
  --verdicts_only
                 train nothing: recompute the verdicts of the results in --results_dir
                 (default experiments/results/<name>) from its results.json, store them there
                 and render results.md again (and, for the committed results, the computed
                 parts of experiments/results/README.md).
"""

from __future__ import annotations

import os
import shlex
import sys
import time

from absl import flags, logging

from cnnjax.train import workdir as workdir_lib
from experiments import cli
from experiments.sweeps import SWEEPS, aggregate, engine, grid, overview

FLAGS = flags.FLAGS
flags.DEFINE_enum("sweep", None, sorted(SWEEPS), "The sweep to run.", required=True)
flags.DEFINE_bool("quick", False, "Reduced grid on a subset of the data.")
flags.DEFINE_string("workdir", None, "Folder of the runs.")
flags.DEFINE_string("results_dir", None, "Folder of the table and plots.")
flags.DEFINE_string("data_dir", None, "Folder with the dataset files.")
flags.DEFINE_integer("epochs", None, "Budget: epochs of every run.", lower_bound=1)
flags.DEFINE_integer("train_size", None, "Budget: training images (0: all).", lower_bound=0)
flags.DEFINE_integer("seeds", None, "Budget: seeds of every run.", lower_bound=1)
flags.DEFINE_string("runs", None, "Regular expression: only the runs whose name matches.")
flags.DEFINE_bool("verdicts_only", False, "Only recompute the verdicts of committed results.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    sweep = SWEEPS[FLAGS.sweep].get_sweep(FLAGS.quick)
    if FLAGS.verdicts_only:
        folder = FLAGS.results_dir or os.path.join("experiments", "results", sweep.name)
        if not os.path.isfile(os.path.join(folder, "results.json")):
            sys.exit(f"error: {folder}/results.json not found: no results to judge")
        try:
            found = aggregate.rewrite(sweep, folder)
        except ValueError as e:  # e.g. a notes placeholder that names no row
            sys.exit(f"error: {e}")
        for v in found:
            print(f"{v['verdict']}: {v['statement']}")
        if not FLAGS.results_dir:  # the committed results: the results README too
            overview.rewrite(os.path.dirname(folder), SWEEPS)
        return
    try:
        sweep, extra = grid.with_budget(sweep, FLAGS.epochs, FLAGS.train_size, FLAGS.seeds)
        sweep = grid.select_runs(sweep, FLAGS.runs)
    except ValueError as e:
        sys.exit(f"error: {e}")
    reduced = extra or FLAGS.seeds is not None
    suffix = ("_quick" if FLAGS.quick else "") + ("_reduced" if reduced else "")
    workdir = FLAGS.workdir or os.path.join("runs", "sweeps", sweep.name + suffix)
    results_dir = FLAGS.results_dir or (
        os.path.join(workdir, "results")
        if FLAGS.quick
        else os.path.join("experiments", "results", sweep.name)
    )
    try:  # a file in the way: one line, before any training
        workdir_lib.ensure_folder(workdir, "sweep workdir")
        workdir_lib.ensure_folder(results_dir, "results_dir")
    except ValueError as e:
        sys.exit(f"error: {e}")
    command = "python -m experiments.sweep " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    start = time.perf_counter()
    try:
        summaries = engine.run_sweep(sweep, workdir, FLAGS.data_dir, extra)
    except ValueError as e:  # bad input: no traceback
        sys.exit(f"error: {e}")
    wall = time.perf_counter() - start
    try:  # mixed setups, or a notes placeholder that names no row
        aggregate.aggregate(sweep, workdir, results_dir, summaries, command, wall)
    except ValueError as e:
        sys.exit(f"error: {e}")
    if not FLAGS.quick and not FLAGS.results_dir:  # the committed results: the README too
        overview.rewrite(os.path.dirname(results_dir), SWEEPS)
    print(open(os.path.join(results_dir, "results.md")).read())
    print(f"results in {results_dir}")


if __name__ == "__main__":
    cli.run(main)
