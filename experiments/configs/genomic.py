"""Genomic prediction (experiments/genomic.py): a 1-D CNN against ridge regression on simulated
genotypes, across heritabilities, with and without epistasis.

`--config=experiments/configs/genomic.py:quick` selects a small population, one setting and a
few epochs (seconds); flags like --config.epochs=2 still apply on top."""

import ml_collections


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
