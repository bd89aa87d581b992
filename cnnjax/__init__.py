"""cnnjax: a JAX functional research codebase for convolutional neural networks.

Subpackages:
  data     -- readers for canonical dataset files (NumPy only) and where to find them.
  pipeline -- on-device input pipeline: normalisation, splits, epoch permutations, batches.
  models   -- Flax Linen modules and the model registry (`models.create`).
  losses   -- cross-entropy with label smoothing, L1/L2 penalties.
  optim    -- Optax optimizers, learning-rate schedules, plateau reduction.
  train    -- TrainState, pure jitted steps, the epoch loop with checkpoint/resume.
  report   -- metrics.jsonl, summary.json, TensorBoard events, curves.png.
  runtime  -- opt-in XLA flag defaults (`runtime.configure()`) and the compilation cache.

Importing cnnjax changes no process-wide setting. For the XLA flag default that the runners in
experiments/ use, call `cnnjax.runtime.configure()` before your first JAX computation.
"""

from cnnjax import runtime  # noqa: F401  (no side effects; `cnnjax.runtime.configure()`)

__version__ = "0.1.0"
