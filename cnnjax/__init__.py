"""cnnjax: a JAX functional research codebase for convolutional neural networks.

Subpackages:
  data     -- readers for canonical dataset files (NumPy only) and where to find them.
  pipeline -- on-device input pipeline: normalisation, splits, epoch permutations, batches.
  models   -- Flax Linen modules and the model registry (`models.create`).
  losses   -- cross-entropy with label smoothing, L1/L2 penalties.
  optim    -- Optax optimizers, learning-rate schedules, plateau reduction.
  train    -- TrainState, pure jitted steps, the epoch loop with checkpoint/resume.
  report   -- metrics.jsonl, summary.json, TensorBoard events, curves.png.
  runtime  -- default XLA flags (set here, before JAX initialises) and the compilation cache.
"""

from cnnjax import runtime as _runtime

_runtime.set_default_xla_flags()

__version__ = "0.1.0"
