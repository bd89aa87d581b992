r"""Writes a named dataset out as an image folder of PNG files:
`python -m experiments.write_image_folder --dataset=digits --out=/tmp/digits_folder`,
or a generated folder of JPEG images of any size (`--dataset=synthetic`, e.g. 224 x 224 for
the streaming pipeline: `--synthetic_size=256 --per_class=200`).

The layout is the folder dataset's split layout (cnnjax.data.folder_write), one folder per
class named after the class, the files numbered in the dataset's order:

    OUT/train/<class>/00000.png ...   OUT/test/<class>/00000.png ...

PNG is lossless, so `--config.dataset.name=folder --config.dataset.data_dir=OUT` with the
dataset's own image size reads back the very pixels: a way to try the folder pipeline (and
predict) on data that is already here, and to compare it with the in-memory reader.

Flags:
  --dataset   a name from cnnjax.data.DATASETS other than 'folder' and 'tfds', or 'synthetic'.
  --out       the folder to create (it must not exist yet, or be empty).
  --data_dir  where the dataset's files are (default: the usual search).
  --limit     at most this many images per split (0: all).
  --synthetic_size, --synthetic_classes, --per_class, --test_per_class: the generated folder
              (cnnjax.data.folder_write.write_synthetic_folder).
"""

from __future__ import annotations

import os
import sys

from absl import flags

from cnnjax import data
from cnnjax.data.folder_write import write_image_folder, write_synthetic_folder
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "dataset",
    None,
    [d for d in data.DATASETS if d not in ("folder", "tfds")] + ["synthetic"],
    "Dataset.",
    required=True,
)
flags.DEFINE_string("out", None, "Folder to write.", required=True)
flags.DEFINE_string("data_dir", None, "Folder with the dataset files.")
flags.DEFINE_integer("limit", 0, "Images per split at most (0: all).", lower_bound=0)
flags.DEFINE_integer("synthetic_size", 256, "synthetic: image side (pixels).", lower_bound=1)
flags.DEFINE_integer("synthetic_classes", 10, "synthetic: classes.", lower_bound=2)
flags.DEFINE_integer("per_class", 100, "synthetic: training images per class.", lower_bound=1)
flags.DEFINE_integer("test_per_class", 20, "synthetic: test images per class.", lower_bound=1)


def main(argv):
    del argv
    if os.path.exists(FLAGS.out) and os.listdir(FLAGS.out):
        sys.exit(f"error: --out={FLAGS.out} exists and is not empty")
    if FLAGS.dataset == "synthetic":
        written = write_synthetic_folder(
            FLAGS.out,
            FLAGS.synthetic_classes,
            FLAGS.per_class,
            FLAGS.test_per_class,
            FLAGS.synthetic_size,
        )
        print(
            f"{FLAGS.out}: {written['train']} train + {written['test']} test "
            f"{FLAGS.synthetic_size}x{FLAGS.synthetic_size} JPEG images of "
            f"{FLAGS.synthetic_classes} classes"
        )
        return
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
