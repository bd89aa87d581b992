r"""Prints a model's per-layer table: `python -m experiments.summary --model=lenet5
--input_shape=28,28,1`. No weights are allocated (jax.eval_shape), so even the largest models
are summarised in seconds on a CPU.
"""

from __future__ import annotations

from absl import app, flags

from cnnjax import models, summary
from experiments import cli

_MODEL = flags.DEFINE_string("model", "lenet5", "A registered model name.")
_INPUT_SHAPE = flags.DEFINE_list("input_shape", ["28", "28", "1"], "H,W,C of one input.")
_NUM_CLASSES = flags.DEFINE_integer("num_classes", 10, "Size of the logits.")
_XLA = flags.DEFINE_bool("xla", True, "Also print XLA's flop count of the forward pass.")


def main(argv):
    del argv
    try:
        models.check_name(_MODEL.value)
        shape = tuple(int(s) for s in _INPUT_SHAPE.value)
    except ValueError as e:
        raise app.UsageError(str(e))
    model = models.create(_MODEL.value, _NUM_CLASSES.value)
    rows, variables = summary.summarize(model, shape)
    print(f"{_MODEL.value} on {'x'.join(map(str, shape))}, {_NUM_CLASSES.value} classes")
    print(summary.format_rows(rows))
    if _XLA.value:
        macs = sum(r.macs for r in rows)
        flops = summary.xla_flops(model, variables, shape)
        print(f"XLA forward flops {flops:,.0f} = {flops / (2 * macs):.3f} x (2 x MACs)")


if __name__ == "__main__":
    cli.run(main)
