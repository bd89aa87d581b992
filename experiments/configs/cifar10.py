"""A small batch-norm CNN on CIFAR-10 with the standard crop+flip augmentation."""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.dataset.name = "cifar10"  # 50,000 train (5,000 held out) / 10,000 test, 32x32x3
    c.dataset.val_size = 5000
    c.dataset.augment.crop_padding = 4  # pixels of zero padding before a random 32x32 crop
    c.dataset.augment.horizontal_flip = True
    c.model = "small_cnn"
    c.model_args.small_cnn.update(
        widths=(32, 64, 128), convs_per_stage=1, hidden=256, dropout_rate=0.3
    )
    c.epochs = 20
    c.batch_size = 128
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.05
    c.schedule.name = "warmup_cosine"
    c.schedule.warmup_epochs = 1.0
    c.loss.l2 = 5e-4
    return c
