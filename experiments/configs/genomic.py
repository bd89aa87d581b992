"""Genomic prediction (experiments/genomic.py): a 1-D CNN against ridge regression on simulated
genotypes, across heritabilities, with and without epistasis.

`--config=experiments/configs/genomic.py:quick` selects a small population, one setting and a
few epochs (seconds); flags like --config.epochs=2 still apply on top."""

import ml_collections

# What the runner's results test (experiments/results/README.md lists it).
CLAIM = (
    "A 1-D CNN on SNP genotypes can capture non-additive (epistatic) effects that a linear "
    "model misses, but GBLUP-like linear models are hard to beat for genomic prediction (Pérez- "
    "Enciso & Zingaretti 2019)."
)


# What the results mean, appended to results.md by the runner; prose without typed figures
# (the table above it holds them).
NOTES = """
Ridge regression on all markers (the GBLUP-like baseline) predicts better than the 1-D CNN in
every setting of the table, for purely additive traits by a wide margin and, where half the
genetic variance is epistatic, by a small one: there both methods lose much of their accuracy,
and the CNN closes most of the gap without overtaking the linear model at this sample size. The
table gives no support to "a CNN captures epistasis that a linear model misses": the CNN never
beats ridge, and the spread over replicate populations is wide. This agrees with the review's
conclusion (Pérez-Enciso & Zingaretti 2019) that deep networks seldom beat GBLUP-like models
for genomic prediction. The CNN's best validation epoch (`cnn_best_epoch` in results.json) comes
early in its budget: it over-fits quickly, which is why the epoch is chosen on the validation
individuals. The sample heritabilities are in results.json beside the targets.
"""


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.results_dir = "experiments/results/genomic"  # results.md, results.json, the plot
    # cnnjax.data.genomic.simulate: one population per (setting, replicate).
    c.num_individuals = 2000  # split train / validation / test below
    c.num_snps = 1000
    c.num_qtl = 50  # causal loci
    c.linkage = 0.9  # probability that a haplotype copies its neighbour's allele
    c.heritabilities = (0.2, 0.5, 0.8)
    c.epistasis = (0.0, 0.5)  # epistatic share of the genetic variance
    c.replicates = 3  # simulated populations per setting (seeds 0, 1, 2)
    c.val_size = 300  # individuals: ridge's alpha and the CNN's best epoch are chosen here
    c.test_size = 300  # individuals: the reported correlations
    # The 1-D CNN (cnnjax.models 'cnn1d' on genotypes centred as x - 1, shape (N, 1, L, 1)).
    c.model_args = ml_collections.ConfigDict(
        dict(widths=(16, 32), kernel_size=5, pool=2, hidden=64, dropout_rate=0.2)
    )
    c.epochs = 40  # passes over the training individuals
    c.batch_size = 64
    c.learning_rate = 1e-3  # Adam
    c.l2 = 1e-3  # coefficient of sum(kernel^2) / 2
    if variant == "quick":
        c.update(
            dict(
                results_dir="/tmp/cnnjax_genomic_quick",
                num_individuals=400,
                num_snps=200,
                heritabilities=(0.8,),
                epistasis=(0.0,),
                replicates=2,
                val_size=80,
                test_size=80,
                epochs=5,
            )
        )
    elif variant:
        raise ValueError(f"genomic config: unknown variant {variant!r}; valid: 'quick'")
    return c
