"""Features + linear SVM: the baseline for reusing a trained network without training it.

`run_probe(config, workdir)` takes the network of the finished run in
`config.transfer.init_from`, computes its penultimate features (the input of its `head`, in
inference mode) for the training, validation and test splits that `config.dataset` selects,
standardises them and fits scikit-learn's LinearSVC for each C in `PROBE_CS`, keeping the C with
the best validation accuracy (cnnjax.transfer.fit_linear_svm). With `config.num_seeds` = K it
probes K networks, seed r using the source's replica r mod its number of seeds. It writes
config.json and a summary.json with the figures of a training run's summary (`test_accuracy`,
`best_val_accuracy`: the chosen C's, `final_train_accuracy`; per seed and mean +- std), so a
sweep tabulates it beside fine-tuned runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, models, pipeline, provenance, report, transfer
from cnnjax.train import data_setup, trained
from cnnjax.train import workdir as workdir_lib
from cnnjax.train.state import num_params

PROBE_CS = (1e-3, 1e-2, 1e-1, 1.0)  # LinearSVC's inverse regularisation strengths tried


def run_probe(config: ml_collections.ConfigDict, workdir: str, **_: Any) -> dict[str, Any]:
    """Fits the probe of `config` in `workdir` and returns (and writes) its summary."""
    config_lib.validate(config)
    source_dir = config.transfer.init_from
    if not source_dir:
        raise config_lib.ConfigError("transfer.init_from: the probe needs a trained run")
    if config.dataset.val_size == 0:
        raise config_lib.ConfigError("dataset.val_size must be > 0: the probe picks C on it")
    k = config.num_seeds
    source_config, source_summary, variables = trained.source_variables(source_dir, k)
    if source_config.model != config.model:
        raise config_lib.ConfigError(
            f"model={config.model!r}: the run in transfer.init_from trained "
            f"{source_config.model!r}; the probe uses that network"
        )
    workdir = os.path.abspath(workdir)
    workdir_lib.prepare_workdir(config, workdir, overwrite=True)
    overrides = config_lib.model_overrides(source_config)
    model = models.create(source_config.model, source_summary["num_classes"], **overrides)
    ds, train, val, test = data_setup.data_splits(config)
    normalizer = pipeline.Normalizer.fit(train.images, config.dataset.normalize)
    start = time.perf_counter()
    per_seed = []
    for r in range(k):
        replica = variables if k == 1 else jax.tree.map(lambda a: a[r], variables)
        own = train  # the seed's own subset of the pool with dataset.subset_per_seed
        if config.dataset.subset_per_seed:
            keep = data_setup.seed_subset(config, train, config.seed + r)
            own = data.Split(train.images[keep], train.labels[keep])
        features = [
            (transfer.head_inputs(model.apply, replica, normalizer(s.images)), s.labels)
            for s in (own, val, test)
        ]
        fit = transfer.fit_linear_svm(*features, cs=PROBE_CS, seed=config.seed + r)
        per_seed.append(
            {
                "seed": config.seed + r,
                "test_accuracy": fit["test_accuracy"],
                "best_val_accuracy": fit["val_accuracy"],
                "final_train_accuracy": fit["train_accuracy"],
                "C": fit["C"],
                "num_features": int(features[0][0].shape[1]),
            }
        )
    one = variables["params"] if k == 1 else jax.tree.map(lambda a: a[0], variables["params"])
    summary: dict[str, Any] = {
        "probe": "linear_svm",
        "init_from": source_dir,
        "num_params": num_params(one),
        "train_seconds": time.perf_counter() - start,
        "model": config.model,
        "dataset": ds.name,
        "num_classes": ds.num_classes,
        "image_shape": list(train.images.shape[1:]),
        "num_train": len(own),  # of one seed (every seed's subset has this size)
        "num_val": len(val),
        "num_test": len(test),
        "device": str(jax.devices()[0].platform),
        "jax_version": jax.__version__,
        "provenance": provenance.collect(),
        "num_seeds": config.num_seeds,
        "per_seed": per_seed,
    }
    for key in ("test_accuracy", "best_val_accuracy", "final_train_accuracy"):
        values = [s[key] for s in per_seed]
        summary[key] = float(np.mean(values))
        summary[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    report.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
