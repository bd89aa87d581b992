r"""Exports a trained run for inference: `python -m experiments.export --workdir=runs/mnist`.

Writes the run's inference function, uint8 images (B, H, W, C) of any batch size -> logits
(B, classes), with the run's preprocessing and its trained variables inside (cnnjax.export),
to <workdir>/export/ (or --out), in --format:
- stablehlo (default): model.stablehlo, serialized StableHLO (`jax.export`); load it with
  `jax.export.deserialize(open(path, "rb").read()).call(images)`; no cnnjax needed;
- savedmodel: the folder model_savedmodel/, a TensorFlow SavedModel (jax2tf): load it with
  `tf.saved_model.load(path).signatures["serving_default"](images=x)["output_0"]`
  (needs `pip install -e '.[savedmodel]'`);
- onnx: model.onnx (jax2onnx; input "images", output "logits"), e.g. for onnxruntime
  (needs `pip install -e '.[onnx]'`).

Flags:
  --workdir   a finished (or checkpointed) run folder.
  --format    stablehlo | savedmodel | onnx.
  --out       the file (the folder, for savedmodel) to write (default under <workdir>/export/).
  --replica   which seed of a multi-seed run (default 0).
  --data_dir  where the run's dataset is, if not where the run found it (for the test images
              that set the input shape).
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from absl import flags, logging

from cnnjax import export
from cnnjax.train import errors, workdir
from cnnjax.train.trained import load_trained
from experiments import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run folder (config.json + checkpoints/).", required=True)
flags.DEFINE_enum("format", "stablehlo", ["stablehlo", "savedmodel", "onnx"], "Export format.")
flags.DEFINE_string("out", None, "Output file or folder (default under <workdir>/export/).")
flags.DEFINE_integer("replica", 0, "Seed index of a multi-seed run.", lower_bound=0)
flags.DEFINE_string("data_dir", None, "Folder with the dataset files.")


# --format -> what it writes under <workdir>/export/ without --out
DEFAULT_NAMES = {
    "stablehlo": "model.stablehlo", "savedmodel": "model_savedmodel", "onnx": "model.onnx"
}  # fmt: skip


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # not Orbax's INFO line for every file it reads
    out = FLAGS.out or os.path.join(FLAGS.workdir, "export", DEFAULT_NAMES[FLAGS.format])
    try:  # a bad folder, a run with no checkpoint that restores, a missing extra: one line
        if FLAGS.format in export.EXTRAS:
            export.require(FLAGS.format)
        trained = load_trained(FLAGS.workdir, FLAGS.data_dir, FLAGS.replica)
        workdir.ensure_folder(os.path.dirname(os.path.abspath(out)), "--out folder")
    except (ValueError, errors.RunError, export.MissingExtra) as e:
        sys.exit(f"error: {e}")
    h, w, c = export.image_shape(trained)
    probe = jax.ShapeDtypeStruct((1, h, w, c), jnp.uint8)
    classes = jax.eval_shape(export.inference_function(trained), probe).shape[-1]
    if FLAGS.format == "savedmodel":
        export.savedmodel(trained, out)
    elif FLAGS.format == "onnx":
        with open(out, "wb") as f:
            f.write(export.onnx(trained).SerializeToString())
    else:
        with open(out, "wb") as f:
            f.write(export.stablehlo(trained).serialize())
    print(f"{out}: uint8 images bx{h}x{w}x{c} -> logits {classes} classes ({FLAGS.format})")


if __name__ == "__main__":
    cli.run(main)
