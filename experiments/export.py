r"""Exports a trained run for inference: `python -m experiments.export --workdir=runs/mnist`.

Writes <workdir>/export/model.stablehlo (or --out): the run's inference function as serialized
StableHLO (`jax.export`), uint8 images (B, H, W, C) of any batch size -> logits (B, classes),
with the run's preprocessing and its trained variables inside (cnnjax.export). Load it with
`jax.export.deserialize(open(path, "rb").read()).call(images)`; no cnnjax needed.

Flags:
  --workdir   a finished (or checkpointed) run folder.
  --out       the file to write (default <workdir>/export/model.stablehlo).
  --replica   which seed of a multi-seed run (default 0).
  --data_dir  where the run's dataset is, if not where the run found it (for the test images
              that set the input shape).
"""

from __future__ import annotations

import os
import sys

from absl import flags, logging

from cnnjax import export
from cnnjax.train import errors, workdir
from cnnjax.train.trained import load_trained
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run folder (config.json + checkpoints/).", required=True)
flags.DEFINE_string("out", None, "Output file (default <workdir>/export/model.stablehlo).")
flags.DEFINE_integer("replica", 0, "Seed index of a multi-seed run.", lower_bound=0)
flags.DEFINE_string("data_dir", None, "Folder with the dataset files.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # not Orbax's INFO line for every file it reads
    out = FLAGS.out or os.path.join(FLAGS.workdir, "export", "model.stablehlo")
    try:  # a bad folder, or a run with no checkpoint that restores: one line
        trained = load_trained(FLAGS.workdir, FLAGS.data_dir, FLAGS.replica)
        workdir.ensure_folder(os.path.dirname(os.path.abspath(out)), "--out folder")
    except (ValueError, errors.RunError) as e:
        sys.exit(f"error: {e}")
    exported = export.stablehlo(trained)
    with open(out, "wb") as f:
        f.write(exported.serialize())
    shape = "x".join(str(d) for d in exported.in_avals[0].shape)
    print(f"{out}: uint8 images {shape} -> logits {exported.out_avals[0].shape[-1]} classes")


if __name__ == "__main__":
    cli.run(main)
