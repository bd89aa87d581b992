r"""Writes a named dataset out as an image folder of PNG files:
`python -m experiments.write_image_folder --dataset=digits --out=/tmp/digits_folder`.

The layout is the folder dataset's split layout (cnnjax.data.folder_write), one folder per
class named after the class, the files numbered in the dataset's order:

    OUT/train/<class>/00000.png ...   OUT/test/<class>/00000.png ...

PNG is lossless, so `--config.dataset.name=folder --config.dataset.data_dir=OUT` with the
dataset's own image size reads back the very pixels: a way to try the folder pipeline (and
predict) on data that is already here, and to compare it with the in-memory reader.

Flags:
  --dataset   a name from cnnjax.data.DATASETS other than 'folder'.
  --out       the folder to create (it must not exist yet, or be empty).
  --data_dir  where the dataset's files are (default: the usual search).
  --limit     at most this many images per split (0: all).
"""

from __future__ import annotations

import os
import sys

from absl import flags

from cnnjax import data
from cnnjax.data.folder_write import write_image_folder
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "dataset", None, [d for d in data.DATASETS if d != "folder"], "Dataset.", required=True
)
flags.DEFINE_string("out", None, "Folder to write.", required=True)
flags.DEFINE_string("data_dir", None, "Folder with the dataset files.")
flags.DEFINE_integer("limit", 0, "Images per split at most (0: all).", lower_bound=0)


def main(argv):
    del argv
    if os.path.exists(FLAGS.out) and os.listdir(FLAGS.out):
        sys.exit(f"error: --out={FLAGS.out} exists and is not empty")
    try:
        ds = data.load(FLAGS.dataset, FLAGS.data_dir)
    except data.DataError as e:
        sys.exit(f"error: {e}")
    written = write_image_folder(ds, FLAGS.out, FLAGS.limit)
    size = "x".join(map(str, ds.train.images.shape[1:3]))
    print(
        f"{FLAGS.out}: {written['train']} train + {written['test']} test {size} PNG images of "
        f"{ds.num_classes} classes; train on it with --config.dataset.name=folder "
        f"--config.dataset.data_dir={FLAGS.out} --config.dataset.image_size="
        f"{ds.train.images.shape[1]}"
    )


if __name__ == "__main__":
    cli.run(main)
