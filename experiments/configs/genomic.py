"""One 1-D CNN trained on the genomic task (cnnjax.tasks.genomic): a simulated population's
phenotypes regressed on its SNP genotypes, the best epoch chosen by the validation correlation.

    python -m experiments.train --config=experiments/configs/genomic.py --workdir=DIR

`:quick` selects a small population and a few epochs (seconds)."""

from cnnjax import tasks
from cnnjax.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.task = "genomic"
    c.genomic = tasks.get("genomic").fields()  # 2000 individuals x 1000 SNPs, h2 = 0.5
    c.model = "cnn1d"  # 1 x k convolutions over the SNP row, max pooling, a dense layer
    m = c.model_args.cnn1d
    m.widths, m.kernel_size, m.pool, m.hidden, m.dropout_rate = (16, 32), 5, 2, 64, 0.2
    c.epochs = 40  # passes over the training individuals
    c.batch_size = 64
    c.eval_batch_size = 300
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.schedule.name = "constant"
    c.loss.l2 = 1e-3  # coefficient of sum(kernel^2) / 2
    # The test figures are those of the epoch with the best validation correlation (the
    # network over-fits quickly); patience = epochs: it never stops early.
    c.early_stopping.enabled = True
    c.early_stopping.metric = "val_r"
    c.early_stopping.patience = c.epochs
    c.early_stopping.restore_best = True
    for v in variant.split(",") if variant else []:
        if v == "quick":
            c.genomic.update(
                dict(num_individuals=400, num_snps=200, heritability=0.8, val_size=80, test_size=80)
            )
            c.epochs = 5
            c.early_stopping.patience = 5
            c.eval_batch_size = 80
        else:
            raise ValueError(f"genomic config: unknown variant {v!r}; valid: quick")
    return c
