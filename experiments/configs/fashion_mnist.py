"""A small batch-norm CNN on Fashion-MNIST (Debian package `dataset-fashion-mnist`)."""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.dataset.name = "fashion_mnist"  # 60,000 train (5,000 held out) / 10,000 test, 28x28x1
    c.dataset.val_size = 5000
    c.dataset.augment.horizontal_flip = True
    c.model = "small_cnn"
    c.model_args.small_cnn.update(
        widths=(32, 64, 128), convs_per_stage=1, hidden=256, dropout_rate=0.3
    )
    c.epochs = 12
    c.batch_size = 128
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.05
    c.schedule.name = "cosine"
    c.loss.l2 = 5e-4
    return c
