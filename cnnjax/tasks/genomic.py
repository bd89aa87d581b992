"""Genomic prediction: a quantitative trait regressed on SNP genotypes (1-D regression).

Data: one simulated population (cnnjax.data.genomic.simulate with the fields of
config.genomic, seed genomic.population_seed): genotypes (N, L) in {0, 1, 2} as one-row images
(N, 1, L, 1) uint8; an individual's label is its index in the population, through which the
batch functions look up its phenotype y and true genetic value g (`Splits.tables`). The last
genomic.test_size individuals are the test set, the genomic.val_size before them the
validation set, the rest the training set. On the device:

    input  = genotype - 1 (centred: -1, 0, 1)                             (B, 1, L, 1)
    target = ((y - mean_train y) / std_train y, g)                        (B, 2)

Loss: the squared error of the one output against the standardised phenotype. Sums, masked:
loss_sum, count and the five sums of a Pearson correlation of the prediction p with y
(sum p, y, p^2, y^2, p y; the standardisation does not change r) and with g. Figures: loss, r
(with the phenotype: primary, higher is better) and r_genetic (with the true genetic value,
what breeders want), r = (n S_py - S_p S_y) / sqrt((n S_pp - S_p^2)(n S_yy - S_y^2)).
`ridge_figures` scores ridge regression on all markers (the GBLUP-like baseline) on the same
individuals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnjax import config as config_lib
from cnnjax import data, pipeline
from cnnjax.data import genomic
from cnnjax.tasks.base import WITHOUT_CLASSES, BatchFns, Splits, Task, register

DATASET_FIELDS = ("dataset.name", "dataset.train_size", "dataset.val_size", "dataset.normalize")


def squared_error_loss(outputs: jax.Array, targets: jax.Array):
    """(per-individual squared error against the standardised phenotype (B,), no sums)."""
    return jnp.square(outputs[:, 0] - targets[:, 0]), {}


def correlation_sums(p: jax.Array, y: jax.Array, mask: jax.Array, name: str):
    """The masked sums S_p, S_y, S_pp, S_yy, S_py of a Pearson correlation, keyed `name_*`."""
    m = lambda v: jnp.sum(v * mask)
    return {
        f"{name}_p": m(p),
        f"{name}_y": m(y),
        f"{name}_pp": m(p * p),
        f"{name}_yy": m(y * y),
        f"{name}_py": m(p * y),
    }


def correlation(total: dict, name: str) -> jax.Array:
    """Pearson r from correlation_sums' totals (module docstring)."""
    n = total["count"]
    sp, sy = total[f"{name}_p"], total[f"{name}_y"]
    cov = n * total[f"{name}_py"] - sp * sy
    var_p, var_y = n * total[f"{name}_pp"] - sp * sp, n * total[f"{name}_yy"] - sy * sy
    return cov / jnp.sqrt(var_p * var_y)


def genomic_sums(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> dict:
    p = outputs[:, 0].astype(jnp.float32)
    return {
        "loss_sum": jnp.sum(squared_error_loss(outputs, targets)[0] * mask),
        "count": jnp.sum(mask),
        **correlation_sums(p, targets[:, 0], mask, "pheno"),
        **correlation_sums(p, targets[:, 1], mask, "genetic"),
    }


def genomic_figures(total: dict) -> dict:
    return {
        "loss": total["loss_sum"] / total["count"],
        "r": correlation(total, "pheno"),
        "r_genetic": correlation(total, "genetic"),
        "count": total["count"],
    }


class GenomicPrediction(Task):
    name = "genomic"
    output_kind = "logits"  # one output per individual (num_classes 1)
    figures = ("loss", "r", "r_genetic")
    train_figures = ("loss",)
    primary = "r"
    higher_is_better = {"loss": False, "r": True, "r_genetic": True}
    unsupported = {
        **{f: "simulates its population from config.genomic" for f in DATASET_FIELDS},
        "dataset.augment": "trains on the genotypes as they are (augmentation is off here)",
        "dataset.permute_pixels": "reads neighbouring SNPs: a permutation breaks their linkage",
        "mixing": "would blend individuals",
        "eval_flip_average": "would reverse the SNP order",
        **WITHOUT_CLASSES,
    }

    validation_field = "genomic.val_size"

    def fields(self) -> ml_collections.ConfigDict:
        f = ml_collections.ConfigDict()
        f.num_individuals = 2000  # split into train / validation / test below
        f.num_snps = 1000
        f.num_qtl = 50  # causal loci
        f.linkage = 0.9  # probability that a haplotype copies its neighbour's allele
        f.heritability = 0.5  # h2 = var(g) / var(y)
        f.epistasis = 0.0  # epistatic share of the genetic variance
        f.population_seed = 0  # which simulated population
        f.val_size = 300  # individuals: the validation figures (the best epoch is chosen here)
        f.test_size = 300  # individuals: the reported figures
        return f

    def checks(self):
        positive = lambda v: config_lib.is_int(v) and v >= 1
        unit = lambda low, high: lambda v: config_lib.is_num(v) and low <= v <= high
        return [
            ("num_individuals", positive, "an integer >= 1"),
            ("num_snps", positive, "an integer >= 1"),
            ("num_qtl", positive, "an integer >= 1"),
            ("linkage", unit(0.0, 0.999), "a number in [0, 0.999]"),
            ("heritability", unit(1e-3, 1.0), "a number in [0.001, 1]"),
            ("epistasis", unit(0.0, 1.0), "a number in [0, 1]"),
            ("population_seed", lambda v: config_lib.is_int(v) and v >= 0, "an integer >= 0"),
            ("val_size", positive, "an integer >= 1"),
            ("test_size", positive, "an integer >= 1"),
        ]

    def validate(self, config: ml_collections.ConfigDict) -> None:
        super().validate(config)
        g = config.genomic
        if g.num_qtl > g.num_snps:
            raise config_lib.ConfigError(
                f"genomic.num_qtl={g.num_qtl}: more causal loci than genomic.num_snps={g.num_snps}"
            )
        n_train = g.num_individuals - g.val_size - g.test_size
        if n_train < config.batch_size:
            raise config_lib.ConfigError(
                f"genomic.num_individuals={g.num_individuals} leaves {n_train} training "
                f"individuals after val_size={g.val_size} and test_size={g.test_size}: fewer "
                f"than batch_size={config.batch_size}"
            )

    def splits(self, config: ml_collections.ConfigDict) -> Splits:
        g = config.genomic
        population = simulate(config)
        images = population.genotypes[:, None, :, None]
        labels = np.arange(g.num_individuals, dtype=np.int32)
        n_train = g.num_individuals - g.val_size - g.test_size
        train, val, test = (
            data.Split(images[part], labels[part])
            for part in np.split(np.arange(g.num_individuals), [n_train, n_train + g.val_size])
        )
        y = population.phenotypes
        info = {
            "dataset": "genomic",
            "source": "cnnjax.data.genomic.simulate",
            "heritability": g.heritability,
            "epistasis": g.epistasis,
            "population_seed": g.population_seed,
            "sample_heritability": float(np.var(population.genetic_values) / np.var(y)),
        }
        tables = {"phenotype": y, "genetic_value": population.genetic_values}
        return Splits(train, val, test, 0, (), info, tables)

    def num_outputs(self, config: ml_collections.ConfigDict, splits: Splits) -> int:
        return 1

    def batch_fns(
        self, config: ml_collections.ConfigDict, normalizer: pipeline.Normalizer, splits: Splits
    ) -> BatchFns:
        del normalizer  # genotypes are centred as x - 1, whatever the image statistics
        y = splits.tables["phenotype"]
        trained_on = y[splits.train.labels]
        standard = (y - trained_on.mean()) / trained_on.std()
        targets = jnp.asarray(np.stack([standard, splits.tables["genetic_value"]], 1), jnp.float32)

        def prepare(genotypes, labels):
            return genotypes.astype(jnp.float32) - 1.0, targets[labels]

        return BatchFns(
            train_batch=lambda key, genotypes, labels: prepare(genotypes, labels),
            eval_batch=prepare,
            loss=squared_error_loss,
            eval_sums=genomic_sums,
            figures=genomic_figures,
        )


def simulate(config: ml_collections.ConfigDict) -> genomic.GenomicData:
    """The population of config.genomic."""
    g = config.genomic
    return genomic.simulate(
        g.num_individuals,
        g.num_snps,
        g.num_qtl,
        g.heritability,
        g.linkage,
        g.epistasis,
        seed=g.population_seed,
    )


def ridge_figures(config: ml_collections.ConfigDict, splits: Splits) -> dict[str, float]:
    """Ridge regression on all markers (genomic.ridge_prediction: its strength chosen by the
    validation correlation) scored on the test individuals: r and r_genetic."""
    genotypes = lambda s: s.images[:, 0, :, 0]
    y, g = splits.tables["phenotype"], splits.tables["genetic_value"]
    predicted, _ = genomic.ridge_prediction(
        (genotypes(splits.train), y[splits.train.labels]),
        (genotypes(splits.val), y[splits.val.labels]),
        genotypes(splits.test),
    )
    test = splits.test.labels
    r = lambda truth: float(np.corrcoef(predicted, truth)[0, 1])
    return {"r": r(y[test]), "r_genetic": r(g[test])}


GENOMIC = register(GenomicPrediction())
