r"""Classifies image files with a trained run:
`python -m experiments.predict --workdir=runs/flowers photo.jpg more_photos/`.

Each image goes through the run's own preprocessing (cnnjax.predict: an image folder run's
resize and crop; a named dataset's exact size and mode; the run's normalisation), then prints
its top-k classes with their probabilities and writes them to a CSV file, one row per image:
path, class_1, probability_1, ..., class_k, probability_k.

Flags:
  --workdir     a finished (or checkpointed) run folder.
  --top_k       classes per image (default 5, at most the run's number of classes).
  --output      the CSV file (default <workdir>/predictions.csv).
  --checkpoint  latest (default) or best (the best epoch's variables, early stopping only).
  --replica     which seed of a multi-seed run (default 0).
  --resize      a named-dataset run: resize images of another size (shorter side, centre
                crop) instead of rejecting them.
"""

from __future__ import annotations

import csv
import os
import sys

from absl import flags, logging

from cnnjax import predict
from cnnjax.train import errors
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run folder (config.json + checkpoints/).", required=True)
flags.DEFINE_integer("top_k", 5, "Classes per image.", lower_bound=1)
flags.DEFINE_string("output", None, "CSV file (default <workdir>/predictions.csv).")
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "Which variables of the run.")
flags.DEFINE_integer("replica", 0, "Seed index of a multi-seed run.", lower_bound=0)
flags.DEFINE_bool("resize", False, "Resize images of another size (named-dataset runs).")


def write_csv(path: str, paths, classes, probabilities, class_names) -> None:
    k = classes.shape[1]
    header = ["path"] + [f"{what}_{i + 1}" for i in range(k) for what in ("class", "probability")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for p, cs, ps in zip(paths, classes, probabilities):
            writer.writerow([p] + [v for c, q in zip(cs, ps) for v in (class_names[c], f"{q:.6f}")])


def main(argv):
    logging.set_verbosity(logging.WARNING)  # not Orbax's INFO line for every file it reads
    if len(argv) < 2:
        sys.exit("error: name the image files or folders to classify after the flags")
    try:  # a bad run folder, a bad image, a run with no checkpoint: one line
        paths = predict.image_paths(argv[1:])
        predictor = predict.Predictor.load(
            FLAGS.workdir, FLAGS.checkpoint == "best", FLAGS.replica, FLAGS.resize
        )
        probabilities = predictor.probabilities(predictor.read(paths))
    except (ValueError, errors.RunError) as e:
        sys.exit(f"error: {e}")
    classes, top = predict.top_k(probabilities, FLAGS.top_k)
    names = predictor.class_names
    for path, cs, ps in zip(paths, classes, top):
        ranked = ", ".join(f"{names[c]} {q:.1%}" for c, q in zip(cs, ps))
        print(f"{path}: {ranked}")
    out = FLAGS.output or os.path.join(FLAGS.workdir, "predictions.csv")
    write_csv(out, paths, classes, top, names)
    print(f"{len(paths)} image(s); top-{classes.shape[1]} classes written to {out}")


if __name__ == "__main__":
    cli.run(main)
